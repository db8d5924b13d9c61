"""``appliance demo``: the whole pipeline on this machine (see :mod:`appliance.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command(
        help=(
            "Migrate, seed a demo tenant, start the API, build a video from face photos, run the edge "
            "worker on it against the API and print visits, the hourly report and new-vs-repeat; then "
            "keep serving the dashboard on that data and print its URL and a login (a password made "
            "for this run, shown once) until Ctrl-C. --no-serve stops after the report (scripts, CI)."
        )
    )(demo)


def demo(
    faces: Annotated[
        Path | None,
        typer.Option(help="folder of face photos, one sub-folder per person (default ../shared/faces)"),
    ] = None,
    video: Annotated[Path | None, typer.Option(help="use this video file instead of building one")] = None,
    source: Annotated[str | None, typer.Option(help="a live source instead (rtsp://…, USB index)")] = None,
    seconds: Annotated[float, typer.Option(min=1, help="how long to watch a live --source")] = 60.0,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="data dir (default APPLIANCE_DATA_DIR, the one `appliance serve` uses)"),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option("--serve/--no-serve", help="keep serving the dashboard after the report"),
    ] = True,
    port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="dashboard port (default APPLIANCE_PORT or 8080; a free one if taken)"
        ),
    ] = None,
) -> None:
    from appliance.demo import run

    if video is not None and not video.is_file():
        raise typer.BadParameter(f"{video} is not a file", param_hint="--video")
    raise SystemExit(
        run(
            faces=faces,
            video=video,
            source=source,
            seconds=seconds,
            data_dir=data_dir,
            serve=serve,
            port=port,
        )
    )
