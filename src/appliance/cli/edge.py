"""``appliance edge``: run the edge worker (cameras → faces → events → API).

Also runnable alone: ``python -m appliance.cli.edge --api … --api-key …``.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import typer

from appliance.cli.common import console, fail, out, settings_or_exit
from appliance.config import ConfigError

if TYPE_CHECKING:
    from appliance.edge.worker import EdgeWorker

status_console = out  # stdout: the terminal the status line is for


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
    # A person at a terminal gets a status line and plain errors; a service manager (stdout not a
    # terminal) gets the JSON lines and the endless retries a box that boots before its API needs.
    human = sys.stdout.isatty()
    if human:
        unreachable = api_unreachable(api, edge_settings.http_timeout_seconds)
        if unreachable:
            fail(
                f"cannot reach the API at {api}: {unreachable}. Is `appliance serve` running there, and is "
                "--api (APPLIANCE_EDGE_API) its address?",
                code=2,
            )
        from rich.logging import RichHandler

        handler = RichHandler(console=status_console, show_path=False, rich_tracebacks=False)
        logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
        logging.getLogger("appliance.edge").setLevel(max(logging.WARNING, logging.getLogger().level))
    else:
        configure_logging(settings.log_level, settings.log_json)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from appliance.vision.embed import choose_backend

    runtime = choose_backend(Path(settings.models_dir) / settings.embedder)
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
        code = run_with_status(worker, api) if human else worker.run()
    except EdgeError as exc:
        fail(str(exc), code=2)
    finally:
        restore()
    if human:
        summary = worker.summary
        status_console.print(
            f"edge worker stopped: {summary.get('frames', 0)} frames, {summary.get('events_queued', 0)} "
            f"events queued, {summary.get('sent', 0)} sent, {summary.get('pending', 0)} waiting in the "
            f"queue ({summary.get('seconds', 0)} s)",
            highlight=False,
        )
    else:
        console.print(f"edge worker stopped: {worker.summary}")
    raise SystemExit(code)


def api_unreachable(api: str, timeout: float) -> str | None:
    """Why nothing answers at ``api`` (connection refused, unknown host, timeout), or None."""
    import httpx

    try:
        httpx.get(api.rstrip("/") + "/readyz", timeout=min(timeout, 5.0))
    except httpx.InvalidURL as exc:
        return f"not a URL ({exc})"
    except httpx.TransportError as exc:
        return str(exc) or type(exc).__name__
    return None  # any HTTP answer: a server is there (the worker reports a refused key itself)


def status_line(worker: EdgeWorker, api: str, elapsed: float) -> str:
    """One line: what the worker is doing right now."""
    m = worker.metrics
    if not worker.cameras:
        return f"edge → {api}: starting ({elapsed:.0f} s)"
    frames = sum(m.value("edge_frames_total", {"camera": c.spec.camera_id}) for c in worker.cameras)
    faces = sum(m.value("edge_faces_detected_total", {"camera": c.spec.camera_id}) for c in worker.cameras)
    uploader = worker.health()["uploader"]
    delivery = (
        "delivering" if not uploader or uploader["healthy"] else f"API trouble: {uploader['last_error']}"
    )
    return (
        f"edge → {api}: {len(worker.cameras)} camera(s) · {frames:.0f} frames · {faces:.0f} faces · "
        f"{m.value('edge_events_queued_total'):.0f} events queued · {m.value('edge_events_sent_total'):.0f} "
        f"sent · queue {m.value('edge_queue_depth'):.0f} · {delivery} · {elapsed:.0f} s"
    )


def run_with_status(worker: EdgeWorker, api: str) -> int:
    """``worker.run()`` in a thread while this (main, signal-handling) thread redraws the status line."""
    import threading
    import time

    from rich.live import Live
    from rich.text import Text

    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["code"] = worker.run()
        except BaseException as exc:  # re-raised in the main thread (EdgeError → a clear message)
            result["error"] = exc

    thread = threading.Thread(target=target, name="edge-worker", daemon=True)
    begun = time.monotonic()
    thread.start()
    with Live(console=status_console, refresh_per_second=4, transient=True) as live:
        while thread.is_alive():
            live.update(Text(status_line(worker, api, time.monotonic() - begun)))
            thread.join(0.25)
    if "error" in result:
        raise result["error"]
    code: int = result.get("code", 1)
    return code


def main() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    register(app)
    app()


if __name__ == "__main__":
    main()
