"""The Linux site install: one box with PostgreSQL already running.

Layout under the root (``/`` in production, a staging folder in tests; the paths written into the
units and the env file are the real ones under that root, so a staged install is runnable)::

    opt/appliance/                the binary (a copy of the one-dir bundle; a source install runs in place)
    etc/appliance/appliance.env   the settings (APPLIANCE_*), mode 0640; kept on upgrade
    var/lib/appliance/            data dir (keys/, objects/), owned by the service user, mode 0750
    etc/systemd/system/           appliance.service, appliance-purge.service + .timer

Re-running it upgrades: the binary is replaced, ``migrate`` runs, the service restarts. Only
``/`` talks to systemd (daemon-reload, enable --now, restart); a staging root stops at the files.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.config import Settings, load_settings
from appliance.install import preflight
from appliance.install.plan import Echo, InstallError, Plan
from appliance.install.templates import render
from appliance.lib.frozen import is_frozen

UNITS = ("appliance.service", "appliance-purge.service", "appliance-purge.timer")
ENABLE = ("appliance.service", "appliance-purge.timer")
ENV_NAME = "appliance.env"


@dataclass
class SiteOptions:
    root: Path = Path("/")
    database_url: str | None = None
    app_role: str | None = None
    host: str | None = None
    port: int | None = None
    public_url: str | None = None
    workers: int = 2
    models_dir: Path | None = None
    embedder: str | None = None
    """Embedder file in the models dir (default: kept, else the manifest's shipped one)."""
    user: str | None = None
    tenant: str | None = None
    admin_user: str = "admin"
    admin_password: str | None = None
    dry_run: bool = False
    run: Callable[..., subprocess.CompletedProcess[str]] = field(default=subprocess.run, repr=False)


@dataclass
class Layout:
    root: Path

    @property
    def production(self) -> bool:
        return self.root.resolve() == Path("/")

    @property
    def prefix(self) -> Path:
        return self.root / "opt" / "appliance"

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "appliance"

    @property
    def env_file(self) -> Path:
        return self.etc / ENV_NAME

    @property
    def data_dir(self) -> Path:
        return self.root / "var" / "lib" / "appliance"

    @property
    def units(self) -> Path:
        return self.root / "etc" / "systemd" / "system"

    @property
    def docs(self) -> Path:
        return self.prefix / "README.txt"


def lan_address() -> str:
    """The address other machines reach this box at: the source address of the default route."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: a UDP connect sends nothing
            address = str(probe.getsockname()[0])
    except OSError:
        address = ""
    return address if address and not address.startswith("127.") else socket.getfqdn()


def read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.lstrip().startswith("#"):
                values[key.strip()] = value.strip()
    return values


def write_private(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    tmp.replace(path)


def installed_binary(layout: Layout) -> Path:
    """What the units run: the copied bundle (frozen) or this very entry point (source install)."""
    if is_frozen():
        return layout.prefix / Path(sys.executable).name
    beside = Path(sys.executable).parent / "appliance"  # the venv's console script
    found = str(beside) if beside.is_file() else shutil.which("appliance")
    if found is None:
        raise InstallError("no `appliance` command for the units: install the package or use the binary")
    return Path(found).absolute()


class SiteInstaller:
    def __init__(self, options: SiteOptions, echo: Echo) -> None:
        self.options = options
        self.echo = echo
        self.layout = Layout(options.root)
        self.existing = read_env(self.layout.env_file)
        self.upgrade = bool(self.existing)
        self.generated_password = False
        self.user, self.group = self._account()
        self.env = self._settings_env()

    # -- settings -------------------------------------------------------------------------
    def _account(self) -> tuple[str, str]:
        o = self.options
        if o.user:
            name = o.user
        elif self.layout.production:
            name = "appliance"
        else:  # a staging root: the files belong to whoever stages them
            name = pwd.getpwuid(os.getuid()).pw_name
        try:
            group = grp.getgrgid(pwd.getpwnam(name).pw_gid).gr_name
        except KeyError:
            group = name
        return name, group

    def _settings_env(self) -> dict[str, str]:
        o, old, layout = self.options, self.existing, self.layout
        host = o.host or old.get("APPLIANCE_HOST") or "0.0.0.0"  # noqa: S104 - a site box serves the LAN
        port = str(o.port or old.get("APPLIANCE_PORT") or 8080)
        public = o.public_url or old.get("APPLIANCE_PUBLIC_URL")
        if not public:
            wildcard = host in {"0.0.0.0", "::"}  # noqa: S104 - compared, not bound
            public = f"http://{lan_address() if wildcard else host}:{port}"
        env = {
            **old,
            "APPLIANCE_DATABASE_URL": o.database_url
            or old.get("APPLIANCE_DATABASE_URL")
            or "postgresql://postgres@127.0.0.1:5432/appliance",
            "APPLIANCE_APP_ROLE": o.app_role or old.get("APPLIANCE_APP_ROLE") or "appliance_app",
            "APPLIANCE_DATA_DIR": str(layout.data_dir),
            "APPLIANCE_MODELS_DIR": str(
                o.models_dir or old.get("APPLIANCE_MODELS_DIR") or layout.data_dir / "models"
            ),
            "APPLIANCE_HOST": host,
            "APPLIANCE_PORT": port,
            "APPLIANCE_PUBLIC_URL": public.rstrip("/"),
        }
        if o.embedder:
            env["APPLIANCE_EMBEDDER"] = o.embedder
        env.setdefault("APPLIANCE_APP_DATABASE_PASSWORD", secrets.token_urlsafe(24))
        env.setdefault("APPLIANCE_LOG_JSON", "true")
        return env

    def settings(self) -> Settings:
        return load_settings(env=self.env)

    # -- the plan ---------------------------------------------------------------------------
    def preflight(self) -> list[preflight.Check]:
        settings = self.settings()
        from appliance.vision.faces import DETECTOR_FILE

        return [
            preflight.postgres(settings.database_url),
            preflight.autovacuum(settings.database_url),
            preflight.free_disk(self.layout.data_dir),
            preflight.port(settings.host, settings.port, ours=self.upgrade),
            preflight.cpu(),
            preflight.models(Path(settings.models_dir), (DETECTOR_FILE, settings.embedder)),
            preflight.ffmpeg(fatal=False),
        ]

    def plan(self) -> Plan:
        o, layout = self.options, self.layout
        plan = Plan()
        verb = "upgrade" if self.upgrade else "install"
        plan.add(f"{verb} into {layout.root} as user {self.user}:{self.group}")
        if layout.production and not o.user:
            plan.add("create the system user appliance (when missing)", self._create_user)
        if is_frozen():
            plan.add(f"copy the binary {Path(sys.executable).parent} → {layout.prefix}", self._copy_binary)
        else:
            plan.add(f"run the source install in place: {installed_binary(layout)}")
        plan.add(f"create {layout.etc} (0750) and the data dir {layout.data_dir} (0750)", self._make_dirs)
        plan.add(
            f"write {layout.env_file} (0640){' keeping its values' if self.upgrade else ''}", self._write_env
        )
        plan.add("create the JWT and object-URL signing keys in the data dir (0600)", self._keys)
        plan.add(
            f"migrate the database {self.settings().database_name} and grant its runtime role", self._migrate
        )
        if o.tenant:
            plan.add(
                f"create the tenant {o.tenant!r} and its admin {o.admin_user!r} (when missing)", self._admin
            )
        plan.add(f"write {', '.join(UNITS)} into {layout.units}", self._units)
        if shutil.which("systemd-analyze"):
            plan.add("check the units with systemd-analyze verify", self._verify_units)
        if layout.production:
            action = "restart" if self.upgrade else "enable --now"
            plan.add(f"systemctl daemon-reload; {action} {' '.join(ENABLE)}", self._systemctl)
        else:
            plan.add("staging root: systemd is not told (start it with systemctl --root or by hand)")
        return plan

    def install(self) -> None:
        checks = self.preflight()
        for check in checks:
            mark = "ok " if check.ok else ("FAIL" if check.fatal else "warn")
            self.echo(f"preflight {mark} {check.name}: {check.detail}")
        failed = [c for c in checks if not c.ok and c.fatal]
        if failed and not self.options.dry_run:
            raise InstallError("preflight failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed))
        self.plan().execute(dry_run=self.options.dry_run, echo=self.echo)
        settings = self.settings()
        self.echo(f"dashboard: {settings.base_url}/")
        if self.options.tenant:
            login = self.options.admin_user
            self.echo(f"login: {login} (tenant {self.options.tenant}); password: {self._password_note()}")

    # -- steps ------------------------------------------------------------------------------
    def _sh(self, *argv: str) -> str:
        result = self.options.run(list(argv), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise InstallError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout.strip()

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, self.user, self.group)

    def _create_user(self) -> str:
        try:
            pwd.getpwnam("appliance")
        except KeyError:
            self._sh(
                "useradd", "--system", "--home-dir", str(self.layout.data_dir), "--no-create-home",
                "--shell", "/usr/sbin/nologin", "appliance",
            )  # fmt: skip
            return "created"
        return "already there"

    def _copy_binary(self) -> str:
        source = Path(sys.executable).parent
        target = self.layout.prefix
        if source.resolve() == target.resolve():
            return "already running from there"
        staging = target.with_name(f".{target.name}.new")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging, symlinks=True)
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        return f"{sum(p.stat().st_size for p in target.rglob('*') if p.is_file()) / 2**20:.0f} MiB"

    def _make_dirs(self) -> None:
        layout = self.layout
        for folder, mode in (
            (layout.etc, 0o750),
            (layout.data_dir, 0o750),
            (layout.data_dir / "keys", 0o700),
        ):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, mode)
            self._chown(folder)
        if os.geteuid() == 0:
            shutil.chown(layout.etc, "root", self.group)

    def _write_env(self) -> None:
        lines = ["# Settings of the appliance (see `appliance config show`). Written by `appliance install`."]
        lines += [f"{key}={value}" for key, value in sorted(self.env.items())]
        write_private(self.layout.env_file, "\n".join(lines) + "\n", 0o640)
        if os.geteuid() == 0:
            shutil.chown(self.layout.env_file, "root", self.group)

    def _keys(self) -> str:
        from appliance.domain.auth.tokens import load_or_create_private_key
        from appliance.storage.local import load_or_create_signing_key

        settings = self.settings()
        load_or_create_private_key(settings)
        load_or_create_signing_key(settings.data_dir)
        keys = Path(settings.data_dir) / "keys"
        for path in keys.iterdir():
            os.chmod(path, 0o600)
            self._chown(path)
        return ", ".join(sorted(p.name for p in keys.iterdir()))

    def _migrate(self) -> str:
        from sqlalchemy.exc import OperationalError

        from appliance.db.migrate import run_migrations

        try:
            before, after = run_migrations(self.settings())
        except OperationalError as exc:
            raise InstallError(f"migrate: {exc.orig}") from exc
        return "already at head" if before == after else f"{before or 'empty'} → {after}"

    def _admin(self) -> str:
        from sqlalchemy import text

        from appliance.db.engine import make_sync_engine
        from appliance.lib.frozen import self_command

        o = self.options
        settings = self.settings()
        engine = make_sync_engine(settings.database_url)
        try:
            with engine.begin() as conn:
                # The owner is subject to RLS too (FORCE): look up as that login and as the platform.
                conn.execute(
                    text(
                        "SELECT set_config('app.login_username', :u, true),"
                        " set_config('app.platform_admin', 'on', true)"
                    ),
                    {"u": o.admin_user},
                )
                taken = conn.execute(
                    text("SELECT 1 FROM users WHERE username = :u"), {"u": o.admin_user}
                ).scalar()
                tenant_id = conn.execute(
                    text("SELECT id FROM tenants WHERE name = :n"), {"n": o.tenant}
                ).scalar()
        finally:
            engine.dispose()
        if taken:
            return f"{o.admin_user} exists: kept"
        env = {**os.environ, **self.env}
        if tenant_id is None:
            created = self._sh_env(env, *self_command(), "admin", "create-tenant", str(o.tenant), "--json")
            import json

            tenant_id = json.loads(created)["id"]
        if o.admin_password is None:
            o.admin_password = secrets.token_urlsafe(12)
            self.generated_password = True
        self._sh_env(
            env, *self_command(), "admin", "create-user", "--username", o.admin_user,
            "--password", o.admin_password, "--role", "tenant_admin", "--tenant", str(tenant_id), "--json",
        )  # fmt: skip
        return f"tenant {tenant_id}, user {o.admin_user}"

    def _sh_env(self, env: dict[str, str], *argv: str) -> str:
        result = self.options.run(list(argv), capture_output=True, text=True, check=False, env=env)
        if result.returncode != 0:
            raise InstallError(
                f"{' '.join(argv[:4])} failed: {(result.stderr or result.stdout).strip()[-500:]}"
            )
        return result.stdout

    def _password_note(self) -> str:
        if self.generated_password:
            return f"{self.options.admin_password} (generated: change it after the first login)"
        if self.options.admin_password:
            return "as given"
        if self.options.dry_run:
            return "generated and printed by the real run (or --admin-password)"
        return "unchanged"

    def unit_values(self) -> dict[str, str]:
        return {
            "binary": str(installed_binary(self.layout)),
            "user": self.user,
            "group": self.group,
            "env_file": str(self.layout.env_file),
            "data_dir": str(self.layout.data_dir),
            "workers": str(self.options.workers),
            "docs": str(self.layout.docs),
        }

    def _units(self) -> None:
        self.layout.units.mkdir(parents=True, exist_ok=True)
        values = self.unit_values()
        for name in UNITS:
            (self.layout.units / name).write_text(render(f"systemd/{name}", **values), encoding="utf-8")
            os.chmod(self.layout.units / name, 0o644)
        self.layout.prefix.mkdir(parents=True, exist_ok=True)
        self.layout.docs.write_text(
            "The visitor analytics appliance. Runbook: docs/runbooks/install-and-upgrade.md in the source.\n"
            f"Settings: {self.layout.env_file}\nData: {self.layout.data_dir}\n",
            encoding="utf-8",
        )

    def _verify_units(self) -> str:
        return verify_units([self.layout.units / name for name in UNITS], self.options.run) or "clean"

    def _systemctl(self) -> None:
        self._sh("systemctl", "daemon-reload")
        if self.upgrade:
            self._sh("systemctl", "restart", *ENABLE)
        else:
            self._sh("systemctl", "enable", "--now", *ENABLE)


def verify_units(
    paths: list[Path], run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
) -> str:
    """``systemd-analyze verify`` on the unit files; raises with its complaints, returns its notes."""
    result = run(["systemd-analyze", "verify", *map(str, paths)], capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    # It exits 0 on a directive it ignores ("Failed to parse …, ignoring"): any line about our
    # files is a mistake in them.
    ours = [line for line in output.splitlines() if any(str(path) in line for path in paths)]
    if result.returncode != 0 or ours:
        raise InstallError(f"systemd-analyze verify: {output}")
    return output
