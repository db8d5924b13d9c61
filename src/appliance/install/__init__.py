"""``appliance install`` / ``uninstall``: the site box (Linux, systemd) and the edge (macOS, launchd).

* :mod:`.preflight`: what must hold before anything changes (PostgreSQL, disk, port, CPU, models).
* :mod:`.plan`: an install is a list of steps, printed by ``--dry-run`` and run in order otherwise.
* :mod:`.site`: the Linux site install (data dir, env file, keys, migrate, units, first admin).
* :mod:`.edge`: the macOS edge agent (launchd plist, camera and model-pack checks).
* :mod:`.templates`: the unit and plist templates shipped in ``assets/``.
"""
