"""``appliance uninstall``: the site install undone; data, settings and database kept unless asked."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.config import load_settings
from appliance.install.plan import InstallError, Plan
from appliance.install.site import ENABLE, UNITS, Layout, read_env


@dataclass
class UninstallOptions:
    root: Path = Path("/")
    purge_data: bool = False
    dry_run: bool = False
    run: Callable[..., subprocess.CompletedProcess[str]] = field(default=subprocess.run, repr=False)


def uninstall_plan(options: UninstallOptions) -> Plan:
    layout = Layout(options.root)
    env = read_env(layout.env_file)
    plan = Plan()

    def sh(*argv: str) -> Callable[[], str | None]:
        def go() -> str | None:
            result = options.run(list(argv), capture_output=True, text=True, check=False)
            return (result.stderr or result.stdout).strip() or None

        return go

    if layout.production:
        plan.add(f"systemctl disable --now {' '.join(ENABLE)}", sh("systemctl", "disable", "--now", *ENABLE))

    def remove_units() -> str:
        gone = [name for name in UNITS if (layout.units / name).exists()]
        for name in gone:
            (layout.units / name).unlink()
        return f"removed {', '.join(gone) or 'nothing'}"

    plan.add(f"remove {', '.join(UNITS)} from {layout.units}", remove_units)
    if layout.production:
        plan.add("systemctl daemon-reload", sh("systemctl", "daemon-reload"))
    plan.add(f"remove the binary {layout.prefix}", lambda: shutil.rmtree(layout.prefix, ignore_errors=True))
    if not options.purge_data:
        plan.add(
            f"keep the data dir {layout.data_dir}, {layout.env_file} and the database "
            "(--purge-data removes them)"
        )
        return plan
    url = env.get("APPLIANCE_DATABASE_URL")
    if url:
        plan.add(
            f"drop the database {url.rsplit('/', 1)[-1]} and its runtime role", lambda: _drop_database(env)
        )
    plan.add(
        f"delete the data dir {layout.data_dir}", lambda: shutil.rmtree(layout.data_dir, ignore_errors=True)
    )
    plan.add(f"delete {layout.etc}", lambda: shutil.rmtree(layout.etc, ignore_errors=True))
    return plan


def _drop_database(env: dict[str, str]) -> str:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    from appliance.db.migrate import ROLE_NAME

    settings = load_settings(env=env)
    name, role = settings.database_name, settings.app_role
    if not ROLE_NAME.match(role) or '"' in name:
        raise InstallError(f"refusing to drop {name!r}/{role!r}: not a plain identifier")
    parts = urlsplit(settings.database_url)
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f"DROP ROLE IF EXISTS {role}")
    return f"dropped {name} and {role}"
