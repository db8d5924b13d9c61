"""``python -m appliance`` and the entry script of the PyInstaller binaries (installer/*.spec)."""

import multiprocessing

if __name__ == "__main__":
    # A frozen binary is its own interpreter: the spawned workers of `serve --workers N` start
    # this executable again, and freeze_support() turns that start into the worker, not the CLI.
    multiprocessing.freeze_support()

    from appliance.cli import main

    main()
