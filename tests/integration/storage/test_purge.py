"""The retention purge on the real S3 server and a real database (its own, see conftest).

Rows are seeded with SQL on the owner connection; the purge itself runs on the runtime role,
so row-level security applies to every query it makes.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import typer
from minio.error import S3Error
from typer.testing import CliRunner, Result

from appliance.cli import purge as purge_cli
from appliance.config import Settings
from appliance.db.base import utcnow
from appliance.db.engine import Database, make_async_engine
from appliance.db.types import embedding_bytes
from appliance.jobs.purge import AUDIT_ACTION, PurgeService
from appliance.jobs.purge_report import PurgeReport
from appliance.storage.base import RAW_BUCKET, ObjectStore
from appliance.storage.s3 import S3ObjectStore
from tests.integration.storage.conftest import ACCESS_KEY, SECRET_KEY, WeedServer, s3_env

Conn = psycopg.Connection[tuple[Any, ...]]
NOW = datetime.now(UTC)
JPEG = b"\xff\xd8\xff\xe0 snapshot"


class World:
    """One tenant with a site, a camera, a customer and a visit, seeded on the owner connection."""

    def __init__(self, conn: Conn, name: str) -> None:
        self.conn = conn
        self.tenant_id = uuid.uuid4()
        self.site_id, self.camera_id, self.customer_id, self.visit_id = (uuid.uuid4() for _ in range(4))
        conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s)", (self.tenant_id, name))
        conn.execute(
            "INSERT INTO sites (id, tenant_id, name, timezone) VALUES (%s, %s, 'Main', 'UTC')",
            (self.site_id, self.tenant_id),
        )
        conn.execute(
            "INSERT INTO cameras (id, tenant_id, site_id, name, source) VALUES (%s, %s, %s, 'door', 'rtsp://x')",
            (self.camera_id, self.tenant_id, self.site_id),
        )
        conn.execute(
            "INSERT INTO customers (id, tenant_id) VALUES (%s, %s)", (self.customer_id, self.tenant_id)
        )
        conn.execute(
            "INSERT INTO visits (id, tenant_id, site_id, customer_id, first_seen, last_seen, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (self.visit_id, self.tenant_id, self.site_id, self.customer_id, NOW, NOW, NOW),
        )

    def key(self, name: str) -> str:
        return f"{self.tenant_id}/{self.site_id}/{name}.jpg"

    def sighting(
        self, captured_at: datetime, image_path: str | None, received_at: datetime | None = None
    ) -> uuid.UUID:
        sighting_id = uuid.uuid4()
        self.conn.execute(
            "INSERT INTO sightings (id, tenant_id, site_id, camera_id, customer_id, visit_id, captured_at,"
            " received_at, embedding, det_score, quality, uncertain, is_staff, is_new_customer,"
            " image_path, model, response)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 0.9, 0.8, false, false, false, %s, 'test', '{}')",
            (
                sighting_id,
                self.tenant_id,
                self.site_id,
                self.camera_id,
                self.customer_id,
                self.visit_id,
                captured_at,
                received_at or captured_at,
                embedding_bytes([0.1, 0.2]),
                image_path,
            ),
        )
        return sighting_id

    def image_path(self, sighting_id: uuid.UUID) -> str | None:
        row = self.conn.execute("SELECT image_path FROM sightings WHERE id = %s", (sighting_id,)).fetchone()
        assert row is not None
        value: str | None = row[0]
        return value

    def set_best_snapshot(self, key: str) -> None:
        self.conn.execute("UPDATE visits SET best_snapshot_key = %s WHERE id = %s", (key, self.visit_id))

    def best_snapshot(self) -> str | None:
        row = self.conn.execute(
            "SELECT best_snapshot_key FROM visits WHERE id = %s", (self.visit_id,)
        ).fetchone()
        assert row is not None
        value: str | None = row[0]
        return value

    def audit(self) -> list[tuple[Any, ...]]:
        return self.conn.execute(
            "SELECT actor, actor_role, action, target_type, details FROM audit_log"
            " WHERE tenant_id = %s ORDER BY created_at",
            (self.tenant_id,),
        ).fetchall()


def in_s3(store: S3ObjectStore, key: str) -> bool:
    """Ask the server directly, not through the store under test."""
    try:
        store.client.stat_object(RAW_BUCKET, key)
    except S3Error as exc:
        assert exc.code == "NoSuchKey", exc
        return False
    return True


def purge(
    settings: Settings,
    store: ObjectStore,
    older_than: timedelta,
    *,
    clock: Callable[[], datetime] = utcnow,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    batch_size: int = 500,
) -> PurgeReport:
    """One PurgeService run on the runtime role (RLS applies), in its own event loop."""

    async def go() -> PurgeReport:
        db = Database(make_async_engine(settings.runtime_database_url, pool_size=2))
        try:
            service = PurgeService(db, store, clock, batch_size=batch_size)
            return await service.run(older_than, dry_run=dry_run, progress=progress)
        finally:
            await db.dispose()

    return asyncio.run(go())


def shifted_clock(days: int) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + timedelta(days=days)


def test_purge_deletes_verifies_clears_and_audits(
    purge_db: Conn, purge_settings: Settings, s3: S3ObjectStore
) -> None:
    a, b = World(purge_db, "tenant-a"), World(purge_db, "tenant-b")
    # Relative to a clock 31 days ahead: "now" is 31 days old, now+10d is 21 days old.
    old = {name: a.sighting(NOW, a.key(name)) for name in ("old-1", "old-2", "old-3")}
    old_b = b.sighting(NOW - timedelta(days=3), b.key("old-b"))
    # Received 10 days after their objects were stored (an edge that was offline): the rows are
    # recent, the objects are not — the objects' own time decides.
    late = {name: a.sighting(NOW + timedelta(days=10), a.key(name)) for name in ("late-1", "late-2")}
    vanished = a.sighting(NOW, a.key("vanished"))  # its object is already gone (lifecycle, crash)
    no_image = a.sighting(NOW - timedelta(days=60), None)
    for name in (*old, *late):
        s3.put(RAW_BUCKET, a.key(name), JPEG)
    s3.put(RAW_BUCKET, b.key("old-b"), JPEG)
    orphan = f"{uuid.uuid4()}/{uuid.uuid4()}/never-referenced.jpg"
    s3.put(RAW_BUCKET, orphan, JPEG)
    a.set_best_snapshot(a.key("old-1"))
    b.set_best_snapshot(b.key("old-b"))
    clock = shifted_clock(31)

    # -- dry run: counts, changes nothing ------------------------------------------------------
    dry = purge(purge_settings, s3, timedelta(days=30), clock=clock, dry_run=True)
    assert (dry.dry_run, dry.tenants, dry.candidates, dry.already_missing, dry.orphans) == (True, 2, 5, 1, 1)
    assert (dry.deleted, dry.verified, dry.orphans_deleted, dry.failed, dry.stored_expired) == (0, 0, 0, 0, 2)
    assert all(in_s3(s3, a.key(name)) for name in (*old, *late)) and in_s3(s3, orphan)
    assert a.image_path(old["old-1"]) == a.key("old-1") and a.image_path(vanished) == a.key("vanished")
    assert a.best_snapshot() == a.key("old-1")
    assert a.audit() == [] and b.audit() == []

    # -- the real run ----------------------------------------------------------------------------
    messages: list[str] = []
    report = purge(purge_settings, s3, timedelta(days=30), clock=clock, progress=messages.append)
    assert report.cutoff > NOW
    assert (report.tenants, report.candidates, report.deleted, report.already_missing) == (2, 5, 6, 1)
    assert (report.verified, report.failed, report.orphans, report.orphans_deleted) == (7, 0, 1, 1)
    assert report.visits_cleared == 2 and report.stored_expired == 2
    assert messages and report.errors == []

    for name, sighting_id in old.items():
        assert not in_s3(s3, a.key(name)), name
        assert a.image_path(sighting_id) is None
    assert a.image_path(vanished) is None
    assert not in_s3(s3, b.key("old-b")) and b.image_path(old_b) is None
    for name, sighting_id in late.items():
        assert not in_s3(s3, a.key(name)), name  # referenced, but stored before the cutoff
        assert a.image_path(sighting_id) is None
    assert a.image_path(no_image) is None
    assert not in_s3(s3, orphan)
    assert a.best_snapshot() is None and b.best_snapshot() is None

    [(actor, role, action, target_type, details), (_, _, _, _, by_stored)] = a.audit()
    assert (actor, role, action, target_type) == ("system:purge", "system_admin", AUDIT_ACTION, "sightings")
    assert by_stored["by"] == "object stored before the cutoff" and by_stored["verified"] == 2
    assert details["candidates"] == 4 and details["deleted"] == 3 and details["already_missing"] == 1
    assert details["verified"] == 4 and details["failed"] == 0 and details["visits_cleared"] == 1
    assert datetime.fromisoformat(details["cutoff"]) == report.cutoff
    [(_, _, _, _, details_b)] = b.audit()
    assert details_b["deleted"] == 1

    # -- a second run finds nothing and writes nothing --------------------------------------------
    again = purge(purge_settings, s3, timedelta(days=30), clock=clock)
    assert (again.candidates, again.deleted, again.verified, again.orphans, again.failed) == (0, 0, 0, 0, 0)
    assert len(a.audit()) == 2 and len(b.audit()) == 1


def test_purge_goes_by_stored_time_not_the_claimed_capture_time(
    purge_db: Conn, purge_settings: Settings, s3: S3ObjectStore
) -> None:
    world = World(purge_db, "tenant-claims")
    future = world.sighting(datetime(2099, 1, 1, tzinfo=UTC), world.key("claims-2099"), received_at=NOW)
    ancient = world.sighting(NOW - timedelta(days=60), world.key("claims-old"), received_at=NOW)
    for name in ("claims-2099", "claims-old"):
        s3.put(RAW_BUCKET, world.key(name), JPEG)

    # Stored just now: neither claim matters, both stay.
    today = purge(purge_settings, s3, timedelta(days=30))
    assert (today.candidates, today.deleted, today.stored_expired) == (0, 0, 0)
    assert in_s3(s3, world.key("claims-old")) and world.image_path(ancient) == world.key("claims-old")

    # 31 days on, both are past retention — the one claiming 2099 included.
    later = purge(purge_settings, s3, timedelta(days=30), clock=shifted_clock(31))
    assert (later.candidates, later.deleted, later.verified, later.failed) == (2, 2, 2, 0)
    assert not in_s3(s3, world.key("claims-2099")) and world.image_path(future) is None
    assert not in_s3(s3, world.key("claims-old")) and world.image_path(ancient) is None


class RefusingDeletes(S3ObjectStore):
    """The real S3 store, except that deleting one key silently does nothing (as a bucket with
    object lock or a misbehaving gateway would): the purge must notice and keep the row."""

    stuck: str = ""

    def delete(self, bucket: str, key: str) -> None:
        if key != self.stuck:
            super().delete(bucket, key)


def test_a_failed_verification_leaves_the_row(
    purge_db: Conn, purge_settings: Settings, s3: S3ObjectStore, weed: WeedServer
) -> None:
    world = World(purge_db, "tenant-stuck")
    captured = NOW - timedelta(days=40)  # one timestamp for all: paging must break ties by id
    # The stuck row goes first so its error message is among the capped few the report keeps.
    stuck = world.sighting(captured - timedelta(seconds=1), world.key("stuck"))
    fine = [world.sighting(captured, world.key(f"fine-{i}")) for i in range(4)]
    bad_keys = [world.sighting(captured, f"../../etc/passwd{i}") for i in range(30)]  # never valid keys
    for name in ("stuck", *(f"fine-{i}" for i in range(4))):
        s3.put(RAW_BUCKET, world.key(name), JPEG)
    store = RefusingDeletes(weed.endpoint, ACCESS_KEY, SECRET_KEY, region="us-east-1")
    store.stuck = world.key("stuck")

    # Batches of 2: failed rows stay behind the keyset cursor instead of being selected forever,
    # and 30 bad rows in a row do not look like a dead store (no abort).
    report = purge(purge_settings, store, timedelta(days=30), batch_size=2)
    assert (report.candidates, report.deleted, report.verified, report.failed) == (35, 4, 4, 31)
    assert any("still present after the delete" in e for e in report.errors)
    assert any("must not contain '..'" in e for e in report.errors)
    assert world.image_path(stuck) == world.key("stuck") and in_s3(s3, world.key("stuck"))
    assert all(world.image_path(row) is not None for row in bad_keys)
    assert all(world.image_path(row) is None for row in fine)
    assert not any(in_s3(s3, world.key(f"fine-{i}")) for i in range(4))
    [(_, _, _, _, details)] = world.audit()
    assert details["failed"] == 31 and details["verified"] == 4

    # The next run retries exactly the rows that are still pending.
    store.stuck = ""
    report = purge(purge_settings, store, timedelta(days=30), batch_size=2)
    assert (report.candidates, report.deleted, report.verified, report.failed) == (31, 1, 1, 30)
    assert world.image_path(stuck) is None and not in_s3(s3, world.key("stuck"))


# -- the CLI ----------------------------------------------------------------------------------


def cli(settings: Settings, weed: WeedServer, *args: str) -> Result:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """appliance"""

    purge_cli.register(app)
    env = {
        "APPLIANCE_DATABASE_URL": settings.database_url,
        "APPLIANCE_APP_ROLE": settings.app_role,
        "APPLIANCE_DATA_DIR": settings.data_dir,
        **s3_env(weed),
    }
    return CliRunner().invoke(app, ["purge", *args], env=env, catch_exceptions=False)


def report_of(result: Result) -> PurgeReport:
    import msgspec

    return msgspec.convert(json.loads(result.stdout), PurgeReport)


def test_cli_dry_run_purge_rerun_and_exit_codes(
    purge_db: Conn, purge_settings: Settings, s3: S3ObjectStore, weed: WeedServer
) -> None:
    world = World(purge_db, "tenant-cli")
    old = world.sighting(NOW - timedelta(days=40), world.key("old"))
    young = world.sighting(NOW - timedelta(days=2), world.key("young"))
    for name in ("old", "young"):
        s3.put(RAW_BUCKET, world.key(name), JPEG)

    result = cli(purge_settings, weed, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    dry = report_of(result)
    assert (dry.dry_run, dry.candidates, dry.deleted) == (True, 1, 0)
    assert world.image_path(old) == world.key("old") and in_s3(s3, world.key("old"))

    result = cli(purge_settings, weed)  # default cutoff: raw_retention_days (30)
    assert result.exit_code == 0, result.output
    assert "retention purge" in result.stdout and "objects deleted" in result.stdout
    assert world.image_path(old) is None and not in_s3(s3, world.key("old"))
    assert world.image_path(young) == world.key("young") and in_s3(s3, world.key("young"))

    result = cli(purge_settings, weed, "--older-than", "36h", "--json")
    assert result.exit_code == 0, result.output
    assert report_of(result).deleted == 1 and not in_s3(s3, world.key("young"))

    result = cli(purge_settings, weed, "--json")
    assert result.exit_code == 0, result.output
    assert report_of(result).candidates == 0

    world.sighting(NOW - timedelta(days=40), "bad/../key.jpg")
    result = cli(purge_settings, weed, "--json")
    assert result.exit_code == 1, result.output
    assert report_of(result).failed == 1
    assert "could not be deleted or verified" in result.stderr

    result = cli(purge_settings, weed, "--older-than", "30 days")
    assert result.exit_code == 2
    assert "invalid duration" in result.output


def test_cli_reports_an_unreachable_store(purge_settings: Settings, weed: WeedServer) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """appliance"""

    purge_cli.register(app)
    env = {
        "APPLIANCE_DATABASE_URL": purge_settings.database_url,
        **s3_env(weed),
        "APPLIANCE_S3_ENDPOINT": f"127.0.0.1:{port}",
    }
    result = CliRunner().invoke(app, ["purge"], env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert f"object store 127.0.0.1:{port}: list faces-raw failed" in " ".join(result.stderr.split())


def test_purge_removes_expired_browser_sessions_only(
    purge_db: Conn, purge_settings: Settings, s3: S3ObjectStore
) -> None:
    """Sessions past their absolute end go (on the runtime role, under RLS); live ones stay."""
    world = World(purge_db, "tenant-sessions")
    user_id = uuid.uuid4()
    purge_db.execute(
        "INSERT INTO users (id, tenant_id, username, password_hash, role) VALUES (%s, %s, %s, 'x', 'viewer')",
        (user_id, world.tenant_id, f"viewer-{user_id.hex[:8]}"),
    )
    ends = {"expired": NOW - timedelta(minutes=1), "live": NOW + timedelta(days=7)}
    ids = {name: uuid.uuid4() for name in ends}
    for name, expires_at in ends.items():
        purge_db.execute(
            "INSERT INTO user_sessions"
            " (id, user_id, tenant_id, username, token_version, secret_hash, expires_at)"
            " VALUES (%s, %s, %s, 'viewer', 0, %s, %s)",
            (ids[name], user_id, world.tenant_id, "0" * 64, expires_at),
        )

    def remaining() -> set[uuid.UUID]:
        return {row[0] for row in purge_db.execute("SELECT id FROM user_sessions").fetchall()}

    dry = purge(purge_settings, s3, timedelta(days=30), dry_run=True)
    assert dry.sessions_expired == 1 and remaining() == set(ids.values())
    report = purge(purge_settings, s3, timedelta(days=30))
    assert report.sessions_expired == 1 and remaining() == {ids["live"]}
    assert purge(purge_settings, s3, timedelta(days=30)).sessions_expired == 0
