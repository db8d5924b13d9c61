"""A test/demo "store camera" video made from a folder of face photos (one sub-folder per person).

Each appearance shows one photo, letterboxed into the frame over a plain background, drifting and
zooming slightly for ~2 s; blank gaps separate people; some people come back later with another
photo (repeat visits). The plan is returned with the video so callers know the ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.edge.ffmpeg import VideoWriter
from appliance.vision.images import Image, read_image, resize_area, scaled_size, warp_affine

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True, slots=True)
class Segment:
    person: str | None
    """None: an empty scene."""
    seconds: float
    photo: Path | None = None


@dataclass(frozen=True, slots=True)
class Appearance:
    person: str
    photo: Path
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    frames: int
    duration: float
    appearances: tuple[Appearance, ...]

    @property
    def people(self) -> list[str]:
        return sorted({a.person for a in self.appearances})


def people_in(folder: Path) -> dict[str, list[Path]]:
    """``{person: [photos…]}`` for every sub-folder with photos (``_``-prefixed folders skipped)."""
    found: dict[str, list[Path]] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        photos = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if photos:
            found[sub.name] = photos
    return found


def plan_visits(
    people: dict[str, list[Path]],
    *,
    names: Sequence[str] | None = None,
    returning: Sequence[str] = (),
    appear_seconds: float = 2.0,
    gap_seconds: float = 1.0,
    away_seconds: float = 65.0,
    lead_seconds: float = 1.0,
) -> list[Segment]:
    """Everyone in ``names`` once, then an empty store for ``away_seconds``, then ``returning``
    again (with their next photo when they have several)."""
    chosen = list(names) if names is not None else list(people)
    plan: list[Segment] = [Segment(None, lead_seconds)]
    for name in chosen:
        plan += [Segment(name, appear_seconds, people[name][0]), Segment(None, gap_seconds)]
    if returning:
        plan.append(Segment(None, away_seconds))
        for name in returning:
            photos = people[name]
            plan += [Segment(name, appear_seconds, photos[1 % len(photos)]), Segment(None, gap_seconds)]
    return plan


def background(width: int, height: int) -> Image:
    """A plain, slightly graded 'shop floor' so the encoder has something static to keep."""
    ramp = np.linspace(70, 110, height, dtype=np.float32)[:, None]
    grey = np.repeat(ramp, width, axis=1)
    return np.dstack([grey, grey * 1.02, grey * 0.96]).clip(0, 255).astype(np.uint8)


def letterbox(photo: Image, width: int, height: int, fill: float = 0.9) -> Image:
    """The photo scaled to fit ``fill`` of the frame, aspect kept."""
    scale = min(width * fill / photo.shape[1], height * fill / photo.shape[0])
    size = scaled_size(photo.shape[1], photo.shape[0], scale)
    if size[0] > photo.shape[1] or size[1] > photo.shape[0]:
        return zoomed(photo, size[0] / photo.shape[1])
    return resize_area(photo, size)


def zoomed(photo: Image, zoom: float) -> Image:
    """The photo scaled by ``zoom`` (bilinear, pixel centres kept in place)."""
    size = scaled_size(photo.shape[1], photo.shape[0], zoom)
    shift = 0.5 * (zoom - 1.0)
    matrix = np.array([[zoom, 0.0, shift], [0.0, zoom, shift]])
    return warp_affine(photo, matrix, size, border="replicate")


def compose(base: Image, photo: Image, progress: float) -> Image:
    """One frame: the photo drifting left→right by ~3 % of the width and zooming 0→3 %."""
    height, width = base.shape[:2]
    zoom = 1.0 + 0.03 * progress
    scaled = zoomed(photo, zoom)
    ph, pw = scaled.shape[:2]
    ph, pw = min(ph, height), min(pw, width)
    dx = int((progress - 0.5) * 0.03 * width)
    x0 = max(0, min(width - pw, (width - pw) // 2 + dx))
    y0 = max(0, (height - ph) // 2)
    frame = base.copy()
    frame[y0 : y0 + ph, x0 : x0 + pw] = scaled[:ph, :pw]
    return frame


def write_video(
    plan: Sequence[Segment], path: Path, *, width: int = 1280, height: int = 720, fps: float = 10.0
) -> VideoInfo:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = VideoWriter(path, width, height, fps)
    base = background(width, height)
    appearances: list[Appearance] = []
    frames = 0
    try:
        for segment in plan:
            count = max(1, round(segment.seconds * fps))
            start = frames / fps
            if segment.person is None or segment.photo is None:
                for _ in range(count):
                    writer.write(base)
                frames += count
                continue
            try:
                image = read_image(str(segment.photo))
            except ValueError as exc:
                raise OSError(f"cannot read {segment.photo}") from exc
            photo = letterbox(image, width, height)
            for i in range(count):
                writer.write(compose(base, photo, i / max(1, count - 1)))
            frames += count
            appearances.append(Appearance(segment.person, segment.photo, start, frames / fps))
    finally:
        writer.close()
    return VideoInfo(path, width, height, fps, frames, frames / fps, tuple(appearances))
