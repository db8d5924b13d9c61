"""The backup and restore of docs/runbooks/backup-and-restore.md, done for real: ``pg_dump`` of a
live database and a copy of the data dir, restored into a new database and data dir, served by a new
app — the tenant's customers, its vectors (the embedded index reads them from the restored
database) and its tokens (the signing key is in the data dir) all come back."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import msgspec
import numpy as np
import psycopg
import pytest
from litestar.testing import TestClient
from tests.conftest import PG_ADMIN_URL
from tests.integration.api import Api
from tests.integration.recognition.conftest import Shop, unit

from appliance.config import Settings
from appliance.db.migrate import run_migrations
from appliance.server.app import create_app

pytestmark = pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")


def test_a_restored_backup_serves_the_same_customers(
    shop: Shop, rec_settings: Settings, tmp_path: Path
) -> None:
    face = unit(np.random.default_rng(11))
    first = shop.post(shop.event(face))
    assert first["is_new_customer"] is True

    dump = tmp_path / "appliance.dump"
    subprocess.run(
        [
            "pg_dump",
            "--format=custom",
            "--no-privileges",
            "--dbname",
            rec_settings.database_url,
            "--file",
            str(dump),
        ],
        check=True,
    )
    data_copy = tmp_path / "data"
    shutil.copytree(rec_settings.data_dir, data_copy)

    restored_db = f"appliance_restore_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{restored_db}"')  # type: ignore[arg-type]
    try:
        restored = msgspec.structs.replace(
            rec_settings,
            database_url=f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{restored_db}",
            data_dir=str(data_copy),
        )
        subprocess.run(
            [
                "pg_restore",
                "--no-privileges",
                "--no-owner",
                "--exit-on-error",
                "--dbname",
                restored.database_url,
                str(dump),
            ],
            check=True,
        )
        run_migrations(restored)  # grants the runtime role on the restored database
        with TestClient(app=create_app(restored)) as client:
            admin = Api(client, shop.admin.token)  # signed by the key restored with the data dir
            customers = admin.ok("GET", "/v1/customers")
            assert [c["customer_id"] for c in customers["items"]] == [first["customer_id"]]
            worker = Api(client, shop.worker.token)
            again = worker.ok(
                "POST", "/v1/events/face", json=shop.event(face, at="2026-11-21T10:00:00+01:00")
            )
            assert again["customer_id"] == first["customer_id"] and again["is_new_customer"] is False
            assert {c["tenant_id"] for c in customers["items"]} == {shop.tenant["id"]}
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{restored_db}" WITH (FORCE)')  # type: ignore[arg-type]
