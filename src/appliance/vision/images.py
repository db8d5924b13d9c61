"""Pixels without OpenCV: decode (Pillow), JPEG encode (simplejpeg), grey, area resize and affine
warps in numpy. Images are BGR ``uint8`` arrays (H, W, 3), the layout the models were verified
with.

Pillow is imported only to decode (photos on the server, tools); the edge only encodes its
snapshots, with simplejpeg (libjpeg-turbo, about a megabyte), and the edge binary leaves Pillow out.
"""

from __future__ import annotations

import io
import math
from typing import Literal

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Border = Literal["constant", "replicate"]

# ITU-R BT.601 luma in 14-bit fixed point with rounding: what OpenCV's BGR→grey computes, so the
# blur gate's thresholds (docs/calibration.md) keep their meaning.
_GREY_B, _GREY_G, _GREY_R, _GREY_SHIFT = 1868, 9617, 4899, 14


def decode_image(data: bytes) -> Image:
    """A JPEG/PNG (any format Pillow reads) as BGR; the EXIF orientation is applied, as a phone
    photo is shown. Undecodable data → ``ValueError``."""
    from PIL import Image as PilImage
    from PIL import ImageOps, UnidentifiedImageError

    try:
        with PilImage.open(io.BytesIO(data)) as opened:
            upright = ImageOps.exif_transpose(opened)
            rgb = np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except PilImage.DecompressionBombError as exc:  # callers check the pixel count first; a guard
        raise ValueError(f"image too large to decode: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError("not a decodable JPEG/PNG image") from exc
    return np.ascontiguousarray(rgb[:, :, ::-1])


def read_image(path: str) -> Image:
    with open(path, "rb") as handle:
        return decode_image(handle.read())


def encode_jpeg(image: Image, quality: int = 90) -> bytes:
    """A BGR (or grey) image as JPEG bytes (4:2:0, like libjpeg's default)."""
    import simplejpeg  # type: ignore[import-untyped]

    pixels = np.ascontiguousarray(image)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
        return bytes(simplejpeg.encode_jpeg(pixels, quality=quality, colorspace="GRAY"))
    return bytes(simplejpeg.encode_jpeg(pixels, quality=quality, colorspace="BGR", colorsubsampling="420"))


def to_grey(image: Image) -> Image:
    """BGR → 8-bit luma (BT.601), rounded like OpenCV's conversion."""
    if image.ndim == 2:
        return image
    pixels = image.astype(np.int32)
    luma = (
        pixels[:, :, 0] * _GREY_B + pixels[:, :, 1] * _GREY_G + pixels[:, :, 2] * _GREY_R
        + (1 << (_GREY_SHIFT - 1))
    ) >> _GREY_SHIFT  # fmt: skip
    return luma.astype(np.uint8)


def _area_axis(pixels: npt.NDArray[np.float32], size: int, axis: int) -> npt.NDArray[np.float32]:
    """Area-average ``pixels`` along ``axis`` down to ``size`` samples: each output sample is the
    mean of the input over its footprint, the pixels at its two ends weighted by the part they
    cover. Computed as a few weighted whole-row gathers (taps), not per pixel."""
    length = pixels.shape[axis]
    if size == length:
        return pixels
    scale = length / size
    starts = np.arange(size, dtype=np.float64) * scale
    ends = starts + scale
    first = np.floor(starts).astype(np.int64)
    out: npt.NDArray[np.float32] | None = None
    shape = [1] * pixels.ndim
    shape[axis] = size
    for tap in range(math.ceil(scale) + 1):
        index = first + tap
        weight = np.clip(np.minimum(index + 1, ends) - np.maximum(index, starts), 0.0, None) / scale
        weight[index >= length] = 0.0
        if not weight.any():
            continue
        term = np.take(pixels, np.minimum(index, length - 1), axis=axis)
        term *= weight.astype(np.float32).reshape(shape)
        out = term if out is None else out + term
    assert out is not None
    return out


def resize_area(image: Image, size: tuple[int, int]) -> Image:
    """Downscale to ``size`` = (width, height) by pixel-area averaging (no aliasing; for
    shrinking only — an axis that would grow is sampled by nearest neighbour)."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"bad target size {size}")
    src_h, src_w = image.shape[:2]
    if (src_w, src_h) == (width, height):
        return image
    if src_h % height == 0 and src_w % width == 0:  # whole factors: plain block means
        fy, fx = src_h // height, src_w // width
        count = fy * fx
        # 16-bit sums while they cannot overflow (255 x 256 + rounding < 65536): half the memory traffic.
        sums = np.zeros((height, width, *image.shape[2:]), dtype=np.uint16 if count <= 256 else np.uint32)
        for dy in range(fy):
            for dx in range(fx):
                sums += image[dy::fy, dx::fx]
        means: Image = ((sums + count // 2) // count).astype(np.uint8)
        return means
    pixels = image.astype(np.float32)
    if height < src_h:
        pixels = _area_axis(pixels, height, 0)
    elif height > src_h:
        pixels = pixels[(np.arange(height) * src_h // height)]
    if width < src_w:
        pixels = _area_axis(pixels, width, 1)
    elif width > src_w:
        pixels = pixels[:, (np.arange(width) * src_w // width)]
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """(width, height) times ``scale``, rounded, at least 1."""
    return max(1, round(width * scale)), max(1, round(height * scale))


def warp_affine(
    image: Image, matrix: npt.NDArray[np.floating], size: tuple[int, int], border: Border = "constant"
) -> Image:
    """The ``size`` = (width, height) image whose pixel (x, y) is ``image`` at the inverse of the
    2x3 ``matrix`` (source → destination), bilinearly interpolated. Outside the source: black
    (``constant``) or the nearest edge pixel (``replicate``)."""
    width, height = size
    forward = np.vstack([np.asarray(matrix, dtype=np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])
    inverse = np.linalg.inv(forward)[:2].astype(np.float32)
    xs = np.arange(width, dtype=np.float32)[None, :]
    ys = np.arange(height, dtype=np.float32)[:, None]
    sx = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    sy = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = sx - x0, sy - y0
    src_h, src_w = image.shape[:2]
    # The four neighbours of every output pixel at once: [top-left, top-right, bottom-left, bottom-right].
    cols = x0.astype(np.int64) + np.array([0, 1, 0, 1]).reshape(4, 1, 1)
    rows = y0.astype(np.int64) + np.array([0, 0, 1, 1]).reshape(4, 1, 1)
    weights = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
    inside = (cols >= 0) & (cols < src_w) & (rows >= 0) & (rows < src_h)
    if not inside.all():
        if border == "constant":
            weights *= inside
        np.clip(cols, 0, src_w - 1, out=cols)
        np.clip(rows, 0, src_h - 1, out=rows)
    flat = image.reshape(src_h * src_w, -1)
    values = np.take(flat, rows * src_w + cols, axis=0)
    out = np.einsum("khwc,khw->hwc", values, weights, dtype=np.float32, casting="unsafe")
    result = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return result if image.ndim == 3 else np.ascontiguousarray(result[:, :, 0])


def laplacian_variance(grey: Image) -> float:
    """Variance of the 4-neighbour Laplacian (edges mirrored without repeating the border pixel):
    high for a sharp image, near 0 for a blurred one."""
    pixels = np.pad(grey.astype(np.float64), 1, mode="reflect")
    lap = pixels[:-2, 1:-1] + pixels[2:, 1:-1] + pixels[1:-1, :-2] + pixels[1:-1, 2:] - 4 * pixels[1:-1, 1:-1]
    return float(lap.var())


def fit_similarity(source: npt.ArrayLike, target: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The 2x3 similarity (rotation, uniform scale, translation; no reflection) mapping ``source``
    points onto ``target`` points in the least-squares sense (Umeyama, 1991)."""
    src = np.asarray(source, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(target, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape or len(src) < 2:
        raise ValueError("need at least two matching points")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = float((src_c**2).sum() / len(src))
    if not math.isfinite(src_var) or src_var < 1e-9:
        raise ValueError("degenerate landmarks: cannot align this face")
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    signs = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        signs[-1] = -1.0
    rotation = u @ np.diag(signs) @ vt
    scale = float((singular * signs).sum() / src_var)
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])
