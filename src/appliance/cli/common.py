"""Helpers shared by the CLI commands: settings, console, error exits."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import msgspec
from rich.console import Console

from appliance.config import ConfigError, Settings, load_settings

console = Console(stderr=True)
out = Console()


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc))


def fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}")
    raise SystemExit(code)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(msgspec.to_builtins(obj), indent=2, default=str) + "\n")


def require_milvus_client(settings: Settings) -> None:
    """A build without the Milvus client (the single-box binary) says so instead of a traceback."""
    import importlib.util

    if settings.milvus_uri and importlib.util.find_spec("pymilvus") is None:
        fail(
            "APPLIANCE_MILVUS_URI is set but this build has no Milvus client (the single-box binary uses "
            "the embedded index): unset it, or run the container image or a pip install for Milvus"
        )
