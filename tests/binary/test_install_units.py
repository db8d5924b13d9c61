"""The pure parts of the installer and the runtime choice: preflight checks, the model manifest in
assets/, the launchd plist, the embedder runtime and its reason."""

from __future__ import annotations

import json
import plistlib
import socket
import uuid
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from appliance.cli import app as cli_app
from appliance.install import preflight
from appliance.install.edge import EdgeLayout, EdgeOptions, render_plist
from appliance.vision.embed import choose_backend
from appliance.vision.models import MANIFEST, packaged_manifest
from tests.binary.flow import MODELS_DIR, REPO
from tests.conftest import PG_ADMIN_URL

EMBEDDER = "paddle_mobileface_arcface_128d.onnx"


def test_assets_manifest_is_the_registry() -> None:
    shipped = (REPO / "assets" / "models.json").read_bytes()
    assert shipped == packaged_manifest(), (
        "refresh it: python installer/build.py copies src/appliance/vision/models.json there"
    )
    packs = json.loads(shipped)["packs"]
    assert [p["name"] for p in packs] == [p.name for p in MANIFEST]
    assert all({"url", "sha256", "licence", "dim"} <= set(p) for p in packs)


@pytest.mark.parametrize(
    ("system", "coreml", "providers", "mlpackage", "backend", "reason"),
    [
        ("Darwin", True, ["CoreMLExecutionProvider", "CPUExecutionProvider"], True, "coreml", "coremltools"),
        ("Darwin", False, ["CoreMLExecutionProvider", "CPUExecutionProvider"], False, "onnxruntime-coreml",
         "no paddle_mobileface_arcface_128d.mlpackage"),
        ("Darwin", False, ["CPUExecutionProvider"], False, "onnxruntime-cpu", "coremltools is not installed"),
        ("Darwin", True, ["CPUExecutionProvider"], False, "onnxruntime-cpu", "there is no"),
        ("Linux", False, ["CUDAExecutionProvider", "CPUExecutionProvider"], False, "onnxruntime-cuda", "CUDA"),  # noqa: E501
        ("Linux", False, ["CPUExecutionProvider"], False, "onnxruntime-cpu", "Linux: no CoreML"),
    ],
)  # fmt: skip
def test_choose_backend_says_what_and_why(
    tmp_path: Path,
    system: str,
    coreml: bool,
    providers: list[str],
    mlpackage: bool,
    backend: str,
    reason: str,
) -> None:
    model = tmp_path / EMBEDDER
    if mlpackage:
        model.with_suffix(".mlpackage").mkdir()
    choice = choose_backend(model, system=system, coreml_available=coreml, available_providers=providers)
    assert choice.backend == backend and reason in choice.reason, choice
    if backend.startswith("onnxruntime"):
        assert choice.providers[0] == providers[0] and choice.providers[-1] == "CPUExecutionProvider"


def test_this_machine_runs_the_cpu_provider() -> None:
    choice = choose_backend(MODELS_DIR / EMBEDDER)
    assert choice.backend == "onnxruntime-cpu" and choice.providers == ("CPUExecutionProvider",)


def test_cpu_preflight_reads_the_flags() -> None:
    good = "processor: 0\nflags\t\t: fpu sse4_2 popcnt avx2 fma\n"
    assert preflight.cpu("x86_64", good).ok
    old = preflight.cpu("x86_64", "flags : fpu sse2\n")
    assert not old.ok and old.fatal and "sse4_2, popcnt" in old.detail
    slow = preflight.cpu("x86_64", "flags : sse4_2 popcnt\n")
    assert slow.ok and not slow.fatal and "avx2" in slow.detail
    assert preflight.cpu("aarch64").ok
    assert not preflight.cpu("riscv64").ok


def test_port_preflight_sees_a_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        taken = preflight.port("127.0.0.1", port)
        assert not taken.ok and "is taken" in taken.detail
        assert preflight.port("127.0.0.1", port, ours=True).ok  # an upgrade of the running box
    assert preflight.port("127.0.0.1", port).ok


def test_disk_and_model_preflight(tmp_path: Path) -> None:
    assert preflight.free_disk(tmp_path / "not" / "yet").ok
    assert not preflight.free_disk(tmp_path, minimum=1 << 62).ok
    missing = preflight.models(tmp_path, ("a.onnx",))
    assert not missing.ok and "appliance models pull" in missing.detail
    assert preflight.models(MODELS_DIR, (EMBEDDER,)).ok


def test_postgres_preflight_reports_an_unreachable_server() -> None:
    check = preflight.postgres("postgresql://postgres@127.0.0.1:1/x", timeout=2)
    assert not check.ok and "cannot connect to 127.0.0.1:1" in check.detail
    assert preflight.postgres(PG_ADMIN_URL.rsplit("/", 1)[0] + "/x").ok


def test_autovacuum_preflight_reads_the_server_and_only_warns() -> None:
    with psycopg.connect(PG_ADMIN_URL) as conn:
        row = conn.execute("SELECT current_setting('autovacuum') = 'on'").fetchone()
    check = preflight.autovacuum(PG_ADMIN_URL)
    assert row is not None and check.ok is bool(row[0]) and not check.fatal
    if not check.ok:
        assert "VACUUM (ANALYZE)" in check.detail
    unreachable = preflight.autovacuum("postgresql://postgres@127.0.0.1:1/x", timeout=2)
    assert not unreachable.ok and not unreachable.fatal and "not checked" in unreachable.detail


def test_plist_escapes_what_it_is_given(tmp_path: Path) -> None:
    options = EdgeOptions(api="http://a/?x=1&y=<2>", api_key='k"&<>', cameras=[f"{uuid.uuid4()}=0"])
    text = render_plist(options, EdgeLayout(tmp_path, options.label), MODELS_DIR)
    loaded = plistlib.loads(text.encode())
    assert loaded["EnvironmentVariables"]["APPLIANCE_EDGE_API"] == "http://a/?x=1&y=<2>"
    assert loaded["EnvironmentVariables"]["APPLIANCE_EDGE_API_KEY"] == 'k"&<>'
    assert loaded["ProgramArguments"][-2:] == ["--camera", options.cameras[0]]
    assert loaded["KeepAlive"] is True and loaded["RunAtLoad"] is True


def test_install_edge_checks_the_model_pack_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    args = ["install", "edge", "--api", "http://x", "--api-key", "k", "--root", str(home)]
    result = CliRunner().invoke(cli_app, [*args, "--models-dir", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "preflight FAIL models" in result.output, result.output
    assert not home.exists()
    dry = CliRunner().invoke(cli_app, [*args, "--models-dir", str(MODELS_DIR), "--dry-run"])
    assert dry.exit_code == 0 and "would write" in dry.output and not home.exists(), dry.output
    real = CliRunner().invoke(cli_app, [*args, "--models-dir", str(MODELS_DIR)])
    assert real.exit_code == 0, real.output
    plist = home / "Library" / "LaunchAgents" / "com.appliance.edge.plist"
    assert plistlib.loads(plist.read_bytes())["Label"] == "com.appliance.edge"
    gone = CliRunner().invoke(cli_app, ["uninstall", "edge", "--root", str(home)])
    assert gone.exit_code == 0 and not plist.exists(), gone.output


def test_edge_cli_has_only_the_edge_commands() -> None:
    from appliance.cli.edge_main import app as edge_app

    result = CliRunner().invoke(edge_app, ["--help"])
    assert result.exit_code == 0
    for command in ("edge", "models", "install", "uninstall"):
        assert f" {command} " in result.output
    assert " serve " not in result.output and " migrate " not in result.output
    version = CliRunner().invoke(edge_app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("appliance-edge 0.1.0 (commit ")


def test_the_lan_address_is_not_loopback() -> None:
    from appliance.install.site import lan_address

    assert not lan_address().startswith("127.")


def test_the_edge_imports_nothing_of_the_server() -> None:
    """What the edge-only build and the `edge` extra rely on: its modules load without the server stack."""
    import subprocess
    import sys

    code = (
        "import sys, appliance.cli.edge_main, appliance.edge.worker, appliance.install.edge;"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    server_only = {
        "litestar", "sqlalchemy", "alembic", "psycopg", "pymilvus", "grpc", "pandas", "apscheduler",
        "uvicorn", "minio", "argon2", "jwt", "cryptography", "simsimd",
    }  # fmt: skip
    assert loaded & server_only == set()
