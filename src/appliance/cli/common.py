"""Helpers shared by the CLI commands: the root app, settings, console, error exits.

Imported by the edge-only binary too (``cli/edge_main.py``): nothing here may load the server
stack."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn

import msgspec
import typer
from rich.console import Console
from typer.core import MarkupMode

from appliance.config import ConfigError, Settings, load_settings

console = Console(stderr=True)
out = Console()


def _print_version(ctx: typer.Context, value: bool) -> None:
    if value:
        from appliance.lib.frozen import build_info

        info = build_info()
        # The root command's name is the Typer app's: the binary's, however it was started.
        typer.echo(f"{ctx.command.name} {info['version']} (commit {info['commit']}, {info['variant']})")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="print version and commit, then exit",
        ),
    ] = False,
) -> None:
    """The options before a command (the app's ``help`` is what ``--help`` shows)."""


def root_app(name: str, help: str, *, rich_markup_mode: MarkupMode) -> typer.Typer:
    """The top-level Typer app of a binary (``appliance``, ``appliance-edge``), with a
    ``--version`` flag that prints the binary's name, version and commit."""
    app = typer.Typer(
        name=name,
        help=help,
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        rich_markup_mode=rich_markup_mode,
    )

    app.callback()(_root)
    return app


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
