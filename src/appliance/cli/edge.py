"""``appliance edge``: run the edge worker (cameras → faces → events → API).

Also runnable alone: ``python -m appliance.cli.edge --api … --api-key …``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from appliance.cli.common import console, fail, settings_or_exit
from appliance.config import ConfigError


def register(app: typer.Typer) -> None:
    app.command(
        help=(
            "Run the edge worker: read cameras, detect/gate/embed/track faces, queue events on disk and "
            "deliver them to the API. Without --camera it runs every enabled camera of the key's site. "
            "File sources: exits 0 once the files are done and the queue is drained. "
            "Live sources: runs until SIGTERM/SIGINT (then drains)."
        )
    )(edge)


def _duration(value: str | None) -> float | None:
    if value is None:
        return None
    from appliance.edge.settings import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def edge(
    api: Annotated[str, typer.Option("--api", envvar="APPLIANCE_EDGE_API", help="API base URL")] = "",
    api_key: Annotated[
        str, typer.Option("--api-key", envvar="APPLIANCE_EDGE_API_KEY", help="the site's edge API key")
    ] = "",
    camera: Annotated[
        list[str] | None,
        typer.Option(
            "--camera",
            help="CAMERA_ID=SOURCE (rtsp://…, a USB index like 0, or a video file); repeatable",
        ),
    ] = None,
    fps: Annotated[
        float | None,
        typer.Option(min=0.1, help="frames analysed per second and camera (APPLIANCE_WORKER_FPS, 5)"),
    ] = None,
    queue: Annotated[
        Path | None, typer.Option("--queue", help="on-disk queue file (APPLIANCE_QUEUE_PATH)")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="serve /metrics and /healthz on this port")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="bind address of the metrics port")] = "0.0.0.0",  # noqa: S104
    models_dir: Annotated[Path | None, typer.Option(help="models directory (APPLIANCE_MODELS_DIR)")] = None,
    track_timeout: Annotated[
        str | None,
        typer.Option(help="close a track unseen this long, e.g. 2s (APPLIANCE_TRACK_TIMEOUT_SECONDS)"),
    ] = None,
    drain_timeout: Annotated[
        str | None, typer.Option(help="on SIGTERM keep sending this long, e.g. 15s")
    ] = None,
    start_time: Annotated[
        datetime | None,
        typer.Option(help="files: capture time of the first frame (default: the file ends now)"),
    ] = None,
    dead_letters: Annotated[
        bool, typer.Option("--dead-letters", help="list the queue's dead-lettered events and exit")
    ] = False,
) -> None:
    from appliance.edge.capture import parse_camera_arg
    from appliance.edge.settings import load_edge_settings
    from appliance.edge.worker import EdgeError, EdgeWorker, install_signal_handlers
    from appliance.lib.logging import configure_logging

    settings = settings_or_exit()
    if models_dir is not None:
        settings = msgspec.structs.replace(settings, models_dir=str(models_dir))
    try:
        edge_settings = load_edge_settings(
            worker_fps=fps,
            queue_path=str(queue) if queue else None,
            track_timeout_seconds=_duration(track_timeout),
            drain_timeout_seconds=_duration(drain_timeout),
        )
        cameras = [parse_camera_arg(value) for value in camera or []]
    except (ConfigError, ValueError) as exc:
        fail(str(exc), code=2)
    if dead_letters:
        from appliance.edge.queue import read_dead_letters

        for dead in read_dead_letters(edge_settings.queue_path):
            typer.echo(f"{dead.event_id} camera {dead.camera_id} {dead.attempts} tries: {dead.last_error}")
        raise SystemExit(0)
    if not api or not api_key:
        fail("--api and --api-key are required (APPLIANCE_EDGE_API, APPLIANCE_EDGE_API_KEY)", code=2)
    if start_time is not None and start_time.tzinfo is None:
        fail("--start-time needs a UTC offset, e.g. 2026-11-20T10:00:00+01:00", code=2)
    configure_logging(settings.log_level, settings.log_json)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from appliance.edge.coreml import runtime_backend

    runtime = runtime_backend(Path(settings.models_dir) / settings.embedder)
    logging.getLogger("appliance.edge").info(
        "embedder runtime %s (%s)",
        runtime.backend,
        runtime.reason,
        extra={"runtime": runtime.backend, "providers": list(runtime.providers)},
    )

    worker = EdgeWorker(
        api_url=api,
        api_key=api_key,
        settings=settings,
        edge=edge_settings,
        cameras=cameras,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        start_time=start_time,
    )
    restore = install_signal_handlers(worker)
    try:
        code = worker.run()
    except EdgeError as exc:
        fail(str(exc), code=2)
    finally:
        restore()
    console.print(f"edge worker stopped: {worker.summary}")
    raise SystemExit(code)


def main() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    register(app)
    app()


if __name__ == "__main__":
    main()
