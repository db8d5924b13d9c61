"""``appliance demo`` / ``make demo``: the whole product on one machine, in about a minute.

1. migrate the database (``APPLIANCE_DATABASE_URL``, default local) and create a demo tenant
   (visit gap 1 minute), a tenant admin, then over HTTP a site, a camera and an edge API key;
2. start the API (``appliance serve``, this same program) on a free port, with the embedded vector index
   and the local object store in the demo data dir, and the embedding dimension read from the embedder model;
3. build a "store camera" video from a folder of face photos (each person ~2 s, gaps, several
   people, some coming back after more than the visit gap → repeat visits) — or take ``--video``
   / a live ``--source``;
4. run the edge worker on it against the API: every face goes through the real detector, quality
   gate, embedder, attribute models, tracker, on-disk queue and HTTP delivery;
5. print the visits, the hourly visitors report, the new-vs-repeat split and a verdict;
6. keep serving the dashboard on the demo's data and print its URL and a login (a password generated
   for this run, printed once) until Ctrl-C — or, with ``serve=False`` (``--no-serve``), stop there.

It uses the data dir and models dir every other command uses (``APPLIANCE_DATA_DIR``,
``APPLIANCE_MODELS_DIR``; ``make`` sets both), so ``appliance serve`` later shows the same
snapshots. Its own files (the video, the edge queue, the API log) go to ``<data dir>/demo``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import string
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.live import Live

from appliance.config import Settings, load_settings
from appliance.demo_report import console, ok_json, print_report
from appliance.lib.frozen import self_command

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FACES = REPO_ROOT / ".." / "shared" / "faces"
DEFAULT_MODELS = REPO_ROOT / ".." / "shared" / "models"
VISIT_GAP_MINUTES = 1


def _free_port(preferred: int = 0) -> int:
    """``preferred`` when nothing listens there, else any free port."""
    for candidate in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
            return port
    raise OSError("no free port on 127.0.0.1")


def resolve_models_dir(settings: Settings) -> Path:
    """The configured models dir when it holds the detector, else ``../shared/models`` (dev box)."""
    from appliance.vision.faces import DETECTOR_FILE

    configured = Path(settings.models_dir)
    if (configured / DETECTOR_FILE).is_file() or not (DEFAULT_MODELS / DETECTOR_FILE).is_file():
        return configured.resolve()
    return DEFAULT_MODELS.resolve()


def demo_env(settings: Settings, data_dir: Path, models_dir: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    for key in (
        "APPLIANCE_EMBEDDING_DIM",
        "APPLIANCE_MILVUS_URI",
        "APPLIANCE_S3_ENDPOINT",
        "APPLIANCE_PUBLIC_URL",
    ):
        env.pop(key, None)  # embedded defaults: dim from the model, embedded index, local store
    env.update(
        {
            "APPLIANCE_DATABASE_URL": settings.database_url,
            "APPLIANCE_DATA_DIR": str(data_dir),
            "APPLIANCE_MODELS_DIR": str(models_dir),
            "APPLIANCE_HOST": "127.0.0.1",
            "APPLIANCE_PORT": str(port),
            "APPLIANCE_LOG_LEVEL": "WARNING",
        }
    )
    return env


def _cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([*self_command(), *args], check=False, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"appliance {' '.join(args[:2])} failed:\n{result.stderr or result.stdout}")
    return result.stdout


def run(
    *,
    faces: Path | None = None,
    video: Path | None = None,
    source: str | None = None,
    seconds: float = 60.0,
    data_dir: Path | None = None,
    serve: bool = True,
    port: int | None = None,
    width: int = 1280,
    height: int = 720,
) -> int:
    started = time.monotonic()
    settings = load_settings()
    data = (data_dir or Path(settings.data_dir)).resolve()
    work = data / "demo"
    work.mkdir(parents=True, exist_ok=True)
    models = resolve_models_dir(settings)
    port = _free_port(settings.port if port is None else port)
    env = demo_env(settings, data, models, port)
    suffix = uuid.uuid4().hex[:6]
    # Generated for this run and printed once at the end; never written anywhere.
    password = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
    console.rule("[bold]appliance demo")
    console.print(
        f"database {settings.database_url.split('@')[-1]} · data {data} · models {models} · "
        f"embedder {_embedder_label(settings.embedder)}"
    )
    _ensure_models(env, models, settings.embedder)
    missing = _dashboard_missing() if serve else None
    if missing:
        console.print(f"[yellow]{missing}[/]")

    _cli(env, "migrate")
    tenant = json.loads(
        _cli(
            env,
            "admin",
            "create-tenant",
            f"Demo Retail {suffix}",
            "--visit-gap-minutes",
            str(VISIT_GAP_MINUTES),
            "--json",
        )
    )
    username = f"demo-admin-{suffix}"
    _cli(
        env, "admin", "create-user", "--username", username, "--password", password,
        "--role", "tenant_admin", "--tenant", tenant["id"], "--json",
    )  # fmt: skip

    plan_info = None
    if source is None and video is None:
        from appliance.edge.videogen import people_in, plan_visits, write_video

        folder = (faces or DEFAULT_FACES).resolve()
        if not folder.is_dir():
            raise SystemExit(f"no face photos at {folder} (pass --faces DIR, --video FILE or --source URL)")
        people = people_in(folder)
        returning = [p for p in people if len(people[p]) > 1][1::2][:3]
        plan = plan_visits(people, returning=returning, away_seconds=VISIT_GAP_MINUTES * 60 + 5)
        with console.status("building the demo video"):
            plan_info = write_video(plan, work / f"demo-{suffix}.mp4", width=width, height=height)
        video = plan_info.path
        people_count = len(plan_info.people)
        comeback = (
            f" ({', '.join(returning)} come back after {VISIT_GAP_MINUTES * 60 + 5} s)" if returning else ""
        )
        console.print(
            f"video {video.name}: {plan_info.duration:.0f} s {width}x{height}, {people_count} people, "
            f"{len(plan_info.appearances)} appearances{comeback}"
        )
    camera_source = source or str(Path(str(video)).resolve())

    log_path = work / "api.log"
    with log_path.open("ab") as server_log:
        server = subprocess.Popen(
            [*self_command(), "serve", "--port", str(port)],
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            _wait_ready(http, server, log_path)
            token = ok_json(
                http.post(
                    "/v1/auth/token",
                    json={"grant_type": "password", "username": username, "password": password},
                )
            )["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            site = ok_json(http.post("/v1/sites", json={"name": "Flagship", "timezone": "Europe/Berlin"}))
            camera = ok_json(
                http.post(
                    "/v1/cameras", json={"site_id": site["id"], "name": "Entrance", "source": camera_source}
                )
            )
            key = ok_json(http.post("/v1/api-keys", json={"site_id": site["id"], "name": "entrance edge"}))
            console.print(f"API {base} · tenant {tenant['id']} · camera {camera['id']} → {camera_source}")

            window_start = datetime.now(UTC) - timedelta(seconds=_video_seconds(video) + 60)
            summary = _run_edge(
                base, key["api_key"], settings, models, work / f"edge-queue-{suffix}.sqlite3", source, seconds
            )
            window_end = datetime.now(UTC) + timedelta(minutes=1)
            print_report(http, site, window_start, window_end, plan_info, summary)
        took = time.monotonic() - started
        if serve:
            _serve_until_interrupted(server, base, username, password, data, models, took)
        else:
            console.print(
                f"[dim]pipeline finished in {took:.0f} s (--no-serve: API stopped; log {log_path})[/]"
            )
            _print_login(base, username, password, data, models, serving=False)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0


def _embedder_label(embedder: str) -> str:
    from appliance.vision.models import ModelError, find_pack

    try:
        pack = find_pack(embedder)
    except ModelError:
        return embedder
    return f"{embedder} [yellow](TEST-ONLY stand-in)[/]" if pack.test_only else embedder


def _ensure_models(env: dict[str, str], models: Path, embedder: str) -> None:
    """The detector and the embedder in ``models``; the shipped packs among them are pulled (verified)."""
    from appliance.vision.faces import DETECTOR_FILE
    from appliance.vision.models import MANIFEST

    def missing() -> list[str]:
        return [name for name in (DETECTOR_FILE, embedder) if not (models / name).is_file()]

    shipped = {p.file: p.name for p in MANIFEST if p.ships}
    pullable = [shipped[name] for name in missing() if name in shipped]
    if pullable:
        console.print(f"models missing in {models}: pulling {', '.join(pullable)} (checked by sha256)")
        subprocess.run([*self_command(), "models", "pull", *pullable, "--models-dir", str(models)], env=env)
    if still := missing():
        raise SystemExit(
            f"the demo needs {' and '.join(still)} in {models}. `appliance models pull` fetches the packs "
            "that ship (the embedder: APPLIANCE_EMBEDDER, the manifest's by default); or point "
            "APPLIANCE_MODELS_DIR at a folder that has them."
        )


def _dashboard_missing() -> str | None:
    from appliance.server.spa import static_root

    root = static_root()
    if root is not None and (root / "index.html").is_file():
        return None
    return "the dashboard is not built (appliance/static has no index.html): run `make web` (make demo does)"


def _print_login(base: str, username: str, password: str, data: Path, models: Path, *, serving: bool) -> None:
    """The one place the password appears. ``dashboard`` and ``login`` lines are stable for scripts."""
    console.print()
    if serving:
        console.print(f"dashboard  [bold link={base}/]{base}/[/]")
    console.print(f"login      [bold]{username}[/]  password  [bold]{password}[/]  (shown only now)")
    if os.environ.get("MAKELEVEL"):  # make exports the same dirs to `make serve`
        again = "make serve"
    else:
        embedder = os.environ.get("APPLIANCE_EMBEDDER")
        named = f" APPLIANCE_EMBEDDER={embedder}" if embedder else ""
        again = f"APPLIANCE_DATA_DIR={data} APPLIANCE_MODELS_DIR={models}{named} appliance serve"
    console.print(f"[dim]later, the same data and login: {again}[/]", highlight=False, soft_wrap=True)


def _serve_until_interrupted(
    server: subprocess.Popen[bytes],
    base: str,
    username: str,
    password: str,
    data: Path,
    models: Path,
    took: float,
) -> None:
    console.print(f"[dim]pipeline finished in {took:.0f} s; the dashboard keeps running on its data[/]")
    _print_login(base, username, password, data, models, serving=True)
    console.print("[dim]Ctrl-C stops it.[/]", highlight=False)
    try:
        while server.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopping the dashboard")
        return
    raise SystemExit(f"the API exited ({server.returncode}); see its log in {data / 'demo' / 'api.log'}")


def _run_edge(
    api: str, api_key: str, settings: Settings, models: Path, queue: Path, source: str | None, seconds: float
) -> dict[str, Any]:
    import msgspec

    from appliance.edge.settings import load_edge_settings
    from appliance.edge.worker import EdgeWorker

    logging.getLogger("appliance.edge").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    worker = EdgeWorker(
        api_url=api,
        api_key=api_key,
        settings=msgspec.structs.replace(settings, models_dir=str(models)),
        edge=load_edge_settings(queue_path=str(queue)),
    )
    result: dict[str, int] = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", worker.run()), daemon=True)
    thread.start()
    begun = time.monotonic()
    m = worker.metrics
    with Live(console=console, refresh_per_second=4, transient=True) as live:
        while thread.is_alive():
            if source is not None and time.monotonic() - begun > seconds:
                worker.request_stop()
            frames = sum(m.value("edge_frames_total", {"camera": c.spec.camera_id}) for c in worker.cameras)
            faces = m.value("edge_faces_detected_total", _one(worker))
            live.update(
                f"edge: {frames:.0f} frames · {faces:.0f} faces · "
                f"{m.value('edge_events_queued_total'):.0f} events queued · "
                f"{m.value('edge_events_sent_total'):.0f} sent · {time.monotonic() - begun:.0f} s"
            )
            thread.join(0.25)
    if result.get("code", 1) != 0:
        raise SystemExit(f"the edge worker failed (exit {result.get('code')}); see the log above")
    rejected = {
        reason: int(m.value("edge_face_rejections_total", {"reason": reason}))
        for reason in ("small", "low_score", "roll", "yaw", "blur")
    }
    faces = int(m.value("edge_faces_detected_total", _one(worker)))
    console.print(
        f"edge: {worker.summary.get('frames')} frames analysed, {faces} faces, "
        f"rejected by the quality gate {rejected}, {worker.summary.get('events_queued')} events → "
        f"{int(m.value('edge_events_sent_total'))} delivered in {worker.summary.get('seconds')} s"
    )
    return worker.summary


def _video_seconds(video: Path | None) -> float:
    """A file is replayed as if it ended now: the report window must reach back its length."""
    if video is None:
        return 0.0
    from appliance.edge.capture import file_duration

    return file_duration(video)


def _one(worker: Any) -> dict[str, str]:
    return {"camera": worker.cameras[0].spec.camera_id} if worker.cameras else {}


def _wait_ready(
    http: httpx.Client, server: subprocess.Popen[bytes], log_path: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the API exited ({server.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            if http.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the API did not become ready in time")


def main() -> None:
    raise SystemExit(run())


if __name__ == "__main__":
    main()
