"""Entry script of the appliance binary: runs ``appliance/__main__.py`` (freeze_support, then the CLI)."""

import runpy

runpy.run_module("appliance", run_name="__main__", alter_sys=True)
