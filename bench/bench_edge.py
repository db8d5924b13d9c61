"""Edge throughput and accuracy on this machine, with the real models and photos.

- face detection (YuNet) frames/s at 640x360 and 1280x720, one thread;
- alignment + embedding faces/s, one thread;
- end to end faces/s per core: a video built from the photos (as the demo builds it), decoded
  by an ``ffmpeg`` process (as the edge reads it; its CPU is not counted) and run through
  detect → quality gate → align/embed → track on ONE thread (ONNX Runtime pinned to one
  thread), at 640x360 and 1280x720 (and 1280x720 detected at 640);
- accuracy on shared/faces with the configured embedder: genuine/impostor similarities, TAR at
  FAR 1e-3 (with the resolution the number of impostor pairs allows) and at the chosen 0.40.

    python bench/bench_edge.py            # full
    python bench/bench_edge.py --quick    # fewer repetitions

Models: APPLIANCE_MODELS_DIR (else ../shared/models); photos: APPLIANCE_TEST_FACES_DIR (else
../shared/faces). Figures are printed (RESULT lines), never asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from _common import BenchError, main_guard
from appliance.config import load_settings
from appliance.demo import DEFAULT_FACES, resolve_models_dir
from appliance.edge.capture import Frame, SourceSpec, open_capture
from appliance.edge.metrics import EdgeMetrics
from appliance.edge.pipeline import CameraPipeline
from appliance.edge.quality import QualityConfig
from appliance.edge.track import TrackerConfig
from appliance.edge.videogen import letterbox, people_in, plan_visits, write_video
from appliance.vision.align import align_face
from appliance.vision.detect import YuNetDetector
from appliance.vision.embed import OnnxEmbedder
from appliance.vision.faces import DETECTOR_FILE
from appliance.vision.images import read_image

DETECT_TARGET_FPS = 60.0
E2E_TARGET = 30.0
CHOSEN_THRESHOLD = 0.40


def photos(faces_dir: Path) -> list[tuple[str, np.ndarray[Any, Any]]]:
    found = []
    for path in sorted(faces_dir.glob("*/*.jpg")):
        if path.parent.name.startswith("_"):
            continue
        found.append((path.parent.name, read_image(str(path))))
    if not found:
        raise BenchError(f"no photos under {faces_dir} (set APPLIANCE_TEST_FACES_DIR)")
    return found


def bench_detection(
    detector: YuNetDetector, images: list[np.ndarray[Any, Any]], size: tuple[int, int], reps: int
) -> tuple[float, float]:
    """(frames per wall second, frames per CPU second) on one thread."""
    width, height = size
    frames = []
    for image in images[:12]:
        canvas = np.full((height, width, 3), 90, np.uint8)
        boxed = letterbox(image, width, height)
        y0, x0 = (height - boxed.shape[0]) // 2, (width - boxed.shape[1]) // 2
        canvas[y0 : y0 + boxed.shape[0], x0 : x0 + boxed.shape[1]] = boxed
        frames.append(canvas)
    for frame in frames[:3]:
        detector.detect(frame)
    started, cpu = time.perf_counter(), time.process_time()
    n = 0
    for _ in range(reps):
        for frame in frames:
            detector.detect(frame)
            n += 1
    return n / (time.perf_counter() - started), n / max(1e-9, time.process_time() - cpu)


def bench_embedding(
    detector: YuNetDetector, embedder: OnnxEmbedder, images: list[np.ndarray[Any, Any]], reps: int
) -> tuple[float, float, float]:
    """(faces per wall second, faces per CPU second, embed ms per face) for align + embed."""
    faces = [(image, found[0]) for image in images if (found := detector.detect(image))]
    embedder.embed([align_face(faces[0][0], faces[0][1].landmarks)])
    embed_time = 0.0
    n = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(reps):
        for image, face in faces:
            chip = align_face(image, face.landmarks)
            t1 = time.perf_counter()
            embedder.embed([chip])
            embed_time += time.perf_counter() - t1
            n += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return n / wall, n / max(cpu, 1e-9), 1000 * embed_time / n


def bench_end_to_end(
    models_dir: Path,
    embedder: OnnxEmbedder,
    faces_dir: Path,
    size: tuple[int, int],
    detect_width: int,
    workdir: Path,
) -> dict[str, float]:
    people = people_in(faces_dir)
    plan = plan_visits(people, returning=list(people)[:3], away_seconds=2, gap_seconds=0.5)
    info = write_video(plan, workdir / f"e2e-{size[0]}.mp4", width=size[0], height=size[1], fps=10)
    metrics = EdgeMetrics()
    pipeline = CameraPipeline(
        camera_id=str(uuid.uuid4()),
        site_id=str(uuid.uuid4()),
        detector=YuNetDetector(models_dir / DETECTOR_FILE),
        embedder=embedder,
        attributes=None,
        staff=None,
        quality=QualityConfig(),
        tracker=TrackerConfig(),
        metrics=metrics,
        detect_max_width=detect_width,
        static_skip_seconds=0,
    )
    capture = open_capture(SourceSpec(camera_id="bench", source=str(info.path)))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    index = 0
    events = 0
    while True:
        ok, image = capture.read()
        if not ok or image is None:
            break
        at = index / info.fps
        frame = Frame("bench", np.asarray(image), at, _epoch(at), index)
        events += len(pipeline.process(frame))
        index += 1
    events += len(pipeline.finish())
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    capture.release()
    faces = metrics.value("edge_faces_detected_total", {"camera": pipeline.camera_id})
    rejected = sum(
        metrics.value("edge_face_rejections_total", {"reason": r})
        for r in ("small", "low_score", "roll", "yaw", "blur")
    )
    embedded = faces - rejected
    return {
        "frames": index,
        "faces": faces,
        "embedded": embedded,
        "events": events,
        "appearances": len(info.appearances),
        "wall": wall,
        "cpu": cpu,
        "faces_per_s": faces / wall,
        "faces_per_cpu_s": faces / cpu if cpu else 0.0,
        "frames_per_s": index / wall,
    }


def _epoch(at: float) -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=at)


def accuracy(
    detector: YuNetDetector, embedder: OnnxEmbedder, images: list[tuple[str, np.ndarray[Any, Any]]]
) -> dict[str, Any]:
    names, chips = [], []
    for name, image in images:
        found = detector.detect(image)
        if found:
            names.append(name)
            chips.append(align_face(image, found[0].landmarks))
    vectors = embedder.embed(chips)
    sims = vectors @ vectors.T
    genuine, impostor = [], []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            (genuine if names[i] == names[j] else impostor).append(float(sims[i, j]))
    g, imp = np.sort(np.array(genuine)), np.sort(np.array(impostor))
    # FAR 1e-3 needs >= 1000 impostor pairs to be resolved; with fewer, the strictest measurable
    # operating point is "no false accept at all": the threshold just above the best impostor.
    far_resolution = 1 / imp.size
    allowed_false = int(np.floor(1e-3 * imp.size))
    threshold = float(imp[-(allowed_false + 1)]) + 1e-6
    tar = float(np.mean(g >= threshold))
    return {
        "faces": len(names),
        "identities": len(set(names)),
        "genuine": g,
        "impostor": imp,
        "far_resolution": far_resolution,
        "threshold_far": threshold,
        "tar_far": tar,
        "tar_chosen": float(np.mean(g >= CHOSEN_THRESHOLD)),
        "far_chosen": float(np.mean(imp >= CHOSEN_THRESHOLD)),
    }


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    reps = 3 if args.quick else 10

    settings = load_settings()
    models_dir = resolve_models_dir(settings)
    faces_dir = Path(os.environ.get("APPLIANCE_TEST_FACES_DIR", DEFAULT_FACES)).resolve()
    if not (models_dir / DETECTOR_FILE).is_file():
        raise BenchError(
            f"no detector in {models_dir} (set APPLIANCE_MODELS_DIR or run `appliance models pull`)"
        )
    embedder_path = models_dir / settings.embedder
    if not embedder_path.is_file():
        raise BenchError(f"embedder {embedder_path} not found")
    detector = YuNetDetector(models_dir / DETECTOR_FILE)
    embedder = OnnxEmbedder(embedder_path, threads=1)
    images = photos(faces_dir)
    print(
        f"models {models_dir} · embedder {embedder.name} ({embedder.dim}-D) · {len(images)} photos · "
        f"cores {os.cpu_count()}"
    )
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    det = {
        size: bench_detection(detector, [i for _, i in images], size, reps)
        for size in ((640, 360), (1280, 720))
    }
    embed_wall, embed_core, embed_ms = bench_embedding(
        detector, embedder, [i for _, i in images], max(1, reps // 2)
    )
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        e2e = {
            "640x360": bench_end_to_end(models_dir, embedder, faces_dir, (640, 360), 1280, Path(tmp)),
            "1280x720": bench_end_to_end(models_dir, embedder, faces_dir, (1280, 720), 1280, Path(tmp)),
            "1280x720 (detect@640)": bench_end_to_end(
                models_dir, embedder, faces_dir, (1280, 720), 640, Path(tmp)
            ),
        }
    acc = accuracy(detector, embedder, images)

    print("\nthroughput, one thread (per core = per CPU-second of this process; wall clock beside it)")
    print(f"  {'':<24}{'per core':>12}{'wall':>12}")
    for size, (wall, core) in det.items():
        print(f"  {f'detection {size[0]}x{size[1]}':<24}{core:>8.1f} fps{wall:>8.1f} fps")
    print(
        f"  {'align + embed':<24}{embed_core:>6.1f} faces/s{embed_wall:>6.1f} faces/s"
        f"  (embed {embed_ms:.1f} ms/face)"
    )
    print("\nend to end on a video from the photos (decode → detect → gate → embed → track, one thread)")
    print(
        f"  {'video':<24}{'frames':>8}{'faces':>8}{'events':>8}{'people':>8}"
        f"{'faces/core-s':>14}{'faces/s wall':>14}"
    )
    for label, r in e2e.items():
        print(
            f"  {label:<24}{r['frames']:>8.0f}{r['faces']:>8.0f}{r['events']:>8.0f}{r['appearances']:>8.0f}"
            f"{r['faces_per_cpu_s']:>14.1f}{r['faces_per_s']:>14.1f}"
        )
    g, imp = acc["genuine"], acc["impostor"]
    print(f"\naccuracy on {acc['faces']} faces of {acc['identities']} people ({embedder.name})")
    print(f"  genuine  pairs {g.size:>4}: min {g.min():.2f}  mean {g.mean():.2f}  max {g.max():.2f}")
    print(f"  impostor pairs {imp.size:>4}: min {imp.min():.2f}  mean {imp.mean():.2f}  max {imp.max():.2f}")
    print(
        f"  FAR 1e-3: with {imp.size} impostor pairs the FAR resolution is {acc['far_resolution']:.1e}, so "
        f"'FAR <= 1e-3' means zero false accepts: threshold {acc['threshold_far']:.3f} "
        f"→ TAR {acc['tar_far']:.1%}"
    )
    print(
        f"  chosen match threshold {CHOSEN_THRESHOLD:.2f}: TAR {acc['tar_chosen']:.1%}, "
        f"FAR {acc['far_chosen']:.1%} (margins: genuine min - {CHOSEN_THRESHOLD} = "
        f"{g.min() - CHOSEN_THRESHOLD:+.2f}, {CHOSEN_THRESHOLD} - impostor max = "
        f"{CHOSEN_THRESHOLD - imp.max():+.2f})"
    )
    print()
    for (w, h), (wall, core) in det.items():
        target = f">={DETECT_TARGET_FPS:.0f}" if (w, h) == (640, 360) else "none"
        print(f"RESULT edge_detect_{w}x{h}={core:.1f} fps target={target} (wall {wall:.1f})")
    print(f"RESULT edge_align_embed={embed_core:.1f} faces/s target=none (wall {embed_wall:.1f})")
    for label, r in e2e.items():
        name = label.replace(" (detect@640)", "_detect640")
        print(
            f"RESULT edge_e2e_{name}_per_core={r['faces_per_cpu_s']:.1f} faces/s target=>={E2E_TARGET:.0f} "
            f"(wall {r['faces_per_s']:.1f})"
        )
    print(
        f"RESULT edge_tar_at_far1e-3={acc['tar_far']:.3f} ratio target=none "
        f"(threshold {acc['threshold_far']:.3f}, FAR resolution {acc['far_resolution']:.1e})"
    )
    print(f"RESULT edge_tar_at_0.40={acc['tar_chosen']:.3f} ratio target=none (FAR {acc['far_chosen']:.4f})")


if __name__ == "__main__":
    main_guard(run)
