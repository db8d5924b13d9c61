"""Model packs: the manifest, and verified downloads from a real local HTTP server."""

from __future__ import annotations

import hashlib
import io
import re
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from appliance.cli import models as cli_models
from appliance.cli.models import register as register_models
from appliance.vision.models import (
    MANIFEST,
    ChecksumMismatch,
    LicenceNotAccepted,
    ModelError,
    ModelPack,
    check_pull_allowed,
    download,
    find_pack,
    pack_status,
    verify,
)

PAYLOAD = bytes(range(256)) * 1000  # 256 kB "model"
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on a free port serving a directory."""
    root = tmp_path_factory.mktemp("www")
    (root / "model.onnx").write_bytes(PAYLOAD)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pack/model.onnx", PAYLOAD)
        archive.writestr("pack/README", "hello")
    (root / "pack.zip").write_bytes(buffer.getvalue())

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def pack(url: str, **changes: Any) -> ModelPack:
    base = ModelPack(
        name="test-pack",
        file="model.onnx",
        role="embedder",
        url=url,
        sha256=SHA,
        size=len(PAYLOAD),
        licence="CC0-1.0",
        commercial_use=True,
        ships=True,
        input="x",
        output="y",
        preprocessing="z",
    )
    return msgspec.structs.replace(base, **changes)


def test_download_verifies_and_renames(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    progress: list[tuple[int, int | None]] = []
    path = download(
        pack(f"{base}/model.onnx"), tmp_path / "models", progress=lambda d, t: progress.append((d, t))
    )
    assert path == tmp_path / "models" / "model.onnx" and path.read_bytes() == PAYLOAD
    assert progress[-1] == (len(PAYLOAD), len(PAYLOAD)) and len(progress) > 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]  # no temp file left
    assert pack_status(pack(f"{base}/model.onnx"), path.parent).state == "ok"


def test_sha256_mismatch_leaves_nothing_behind(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    bad = pack(f"{base}/model.onnx", sha256="0" * 64)
    models = tmp_path / "models"
    models.mkdir()
    (models / "model.onnx").write_bytes(b"the previous, working model")
    with pytest.raises(ChecksumMismatch, match="sha256"):
        download(bad, models)
    assert (models / "model.onnx").read_bytes() == b"the previous, working model"  # untouched
    assert sorted(p.name for p in models.iterdir()) == ["model.onnx"]


def test_size_mismatch_is_refused(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    with pytest.raises(ChecksumMismatch, match="bytes"):
        download(pack(f"{base}/model.onnx", size=123), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_http_errors_are_model_errors(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    with pytest.raises(ModelError, match="HTTP 404"):
        download(pack(f"{base}/missing.onnx"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_archive_member_is_extracted_and_verified(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    path = download(pack(f"{base}/pack.zip", archive_member="pack/model.onnx"), tmp_path)
    assert path.read_bytes() == PAYLOAD
    with pytest.raises(ModelError, match="not in the downloaded archive"):
        download(pack(f"{base}/pack.zip", archive_member="pack/other.onnx"), tmp_path / "x")


def test_unpinned_download_keeps_whatever_came(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    unpinned = pack(f"{base}/model.onnx", sha256=None, size=None)
    path = download(unpinned, tmp_path)
    status = pack_status(unpinned, tmp_path)
    assert status.state == "unpinned" and status.sha256 == SHA and path.exists()


def test_verify_reports_ok_mismatch_and_missing(tmp_path: Path) -> None:
    good = pack("http://unused/model.onnx")
    corrupt = pack("http://unused/b.onnx", name="b", file="b.onnx")
    absent = pack("http://unused/c.onnx", name="c", file="c.onnx")
    (tmp_path / "model.onnx").write_bytes(PAYLOAD)
    (tmp_path / "b.onnx").write_bytes(PAYLOAD[:-1] + b"\x00")
    states = {s.pack.name: s.state for s in verify([good, corrupt, absent], tmp_path)}
    assert states == {"test-pack": "ok", "b": "mismatch", "c": "missing"}


def test_the_manifest() -> None:
    names = [p.name for p in MANIFEST]
    assert len(names) == len(set(names))
    for p in MANIFEST:
        assert p.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", p.sha256), p.name
        assert p.url.startswith("https://") and p.licence
    yunet, sface = find_pack("yunet-2023mar"), find_pack("sface-2021dec")
    assert (
        yunet.sha256
        and yunet.sha256.startswith("8f2383e4")
        and yunet.size == 232589
        and yunet.licence == "MIT"
    )
    assert sface.sha256 and sface.sha256.startswith("f6abbfff") and sface.size == 24227283
    assert sface.licence == "Apache-2.0" and sface.ships
    for name in ("buffalo_s-w600k_mbf", "buffalo_l-w600k_r50"):
        arcface = find_pack(name)
        assert not arcface.commercial_use and not arcface.ships and arcface.dim == 512
    for name in ("gender-v1", "age-v1"):
        assert find_pack(name).licence.startswith("CC0") and find_pack(name).ships
    stand_in = find_pack("paddle_mobileface_arcface_128d.onnx")
    assert stand_in.test_only and not stand_in.ships and not stand_in.commercial_use


def test_manifest_hashes_match_the_installed_models(models_dir: Path) -> None:
    present = [s for s in verify(MANIFEST, models_dir) if s.present]
    assert {s.pack.file for s in present} >= {
        "face_detection_yunet_2023mar.onnx",
        "gender-v1.onnx",
        "age-v1.onnx",
    }
    assert all(s.state == "ok" for s in present), [(s.pack.name, s.state) for s in present]


def test_pull_policy() -> None:
    with pytest.raises(LicenceNotAccepted, match="--accept-licence buffalo_s-w600k_mbf"):
        check_pull_allowed(find_pack("buffalo_s-w600k_mbf"))
    check_pull_allowed(find_pack("buffalo_s-w600k_mbf"), accepted=["buffalo_s-w600k_mbf"])
    with pytest.raises(ModelError, match="--allow-unpinned"):
        check_pull_allowed(find_pack("buffalo_l-w600k_r50"), accepted=["buffalo_l-w600k_r50"])
    with pytest.raises(ModelError, match="TEST-ONLY"):
        check_pull_allowed(find_pack("stand-in-mobileface-128d"))
    check_pull_allowed(find_pack("stand-in-mobileface-128d"), allow_test_only=True)
    check_pull_allowed(find_pack("sface-2021dec"))


def cli() -> typer.Typer:
    app = typer.Typer()
    register_models(app)
    return app


def test_cli_list_shows_licences_and_presence(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # wide enough for one line per pack whatever COLUMNS was when the CLI's console was made
    monkeypatch.setattr(cli_models, "out", Console(width=250))
    result = CliRunner().invoke(cli(), ["models", "list", "--models-dir", str(models_dir)])
    assert result.exit_code == 0, result.output
    assert "Apache-2.0" in result.output and "CC0-1.0" in result.output and "TEST ONLY" in result.output
    yunet_row = next(line for line in result.output.splitlines() if "yunet-2023mar" in line)
    assert "yes" in yunet_row
    sface_row = next(line for line in result.output.splitlines() if "sface-2021dec" in line)
    assert "no" in sface_row


def test_cli_verify_exits_1_on_a_corrupt_file(tmp_path: Path, models_dir: Path) -> None:
    runner = CliRunner()
    (tmp_path / "gender-v1.onnx").write_bytes((models_dir / "gender-v1.onnx").read_bytes())
    ok = runner.invoke(cli(), ["models", "verify", "--models-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert ok.exit_code == 0, ok.output
    (tmp_path / "face_detection_yunet_2023mar.onnx").write_bytes(b"not the model")
    bad = runner.invoke(cli(), ["models", "verify", "--models-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert bad.exit_code == 1 and "mismatch" in bad.output


def test_cli_pull_refuses_without_licence_acceptance(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli(), ["models", "pull", "buffalo_s-w600k_mbf", "--models-dir", str(tmp_path)])
    assert result.exit_code == 1 and "--accept-licence" in result.output
    result = runner.invoke(
        cli(), ["models", "pull", "stand-in-mobileface-128d", "--models-dir", str(tmp_path)]
    )
    assert result.exit_code == 1 and "TEST-ONLY" in result.output
    result = runner.invoke(cli(), ["models", "pull", "no-such-pack", "--models-dir", str(tmp_path)])
    assert result.exit_code == 1 and "unknown model pack" in result.output
    assert list(tmp_path.iterdir()) == []


def test_cli_pull_skips_a_verified_file(models_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "gender-v1.onnx").write_bytes((models_dir / "gender-v1.onnx").read_bytes())
    result = CliRunner().invoke(cli(), ["models", "pull", "gender-v1", "--models-dir", str(tmp_path)])
    assert result.exit_code == 0 and "already present and verified" in result.output


def test_pull_takes_its_manifest(served: tuple[str, Path], tmp_path: Path) -> None:
    from appliance.vision.models import pull

    base, _ = served
    manifest = [
        pack(f"{base}/model.onnx", name="shipped"),
        pack(f"{base}/pack.zip", name="zipped", file="zipped.onnx", archive_member="pack/model.onnx"),
        pack(f"{base}/model.onnx", name="optional", file="optional.onnx", ships=False),
        pack(f"{base}/model.onnx", name="tampered", file="tampered.onnx", sha256="f" * 64),
    ]
    seen: list[str] = []
    results = pull([], tmp_path, manifest=manifest, progress=lambda p: lambda d, t: seen.append(p.name))
    assert [(r.pack.name, r.action) for r in results] == [
        ("shipped", "pulled"),
        ("zipped", "pulled"),
        ("tampered", "failed"),
    ]
    assert "sha256" in results[2].detail and set(seen) >= {"shipped", "zipped"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "zipped.onnx"]
    again = pull(["shipped", "optional"], tmp_path, manifest=manifest)
    assert [(r.pack.name, r.action) for r in again] == [("shipped", "skipped"), ("optional", "pulled")]
    research = pack(f"{base}/model.onnx", name="research", file="r.onnx", commercial_use=False)
    with pytest.raises(LicenceNotAccepted):
        pull(["research"], tmp_path, manifest=[*manifest, research])
    assert not (tmp_path / "r.onnx").exists()
    assert pull(["research"], tmp_path, manifest=[research], accepted=["research"])[0].action == "pulled"
