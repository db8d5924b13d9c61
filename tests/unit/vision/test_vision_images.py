"""The numpy image primitives against their definitions (no OpenCV)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image as PilImage

from appliance.vision.align import ARCFACE_TEMPLATE, align_face, similarity_transform
from appliance.vision.detect import nms, padded_size
from appliance.vision.images import (
    decode_image,
    encode_jpeg,
    fit_similarity,
    laplacian_variance,
    resize_area,
    to_grey,
    warp_affine,
)

RNG = np.random.default_rng(7)


def test_similarity_is_recovered_exactly() -> None:
    angle, scale, shift = math.radians(17.0), 1.7, np.array([12.5, -3.25])
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    source = RNG.uniform(0, 200, (5, 2))
    target = source @ (scale * rotation).T + shift
    matrix = fit_similarity(source, target)
    assert np.allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    assert np.allclose(matrix[:, 2], shift, atol=1e-9)


def test_similarity_never_reflects() -> None:
    source = RNG.uniform(0, 100, (5, 2))
    mirrored = source * np.array([-1.0, 1.0])
    matrix = fit_similarity(source, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_degenerate_landmarks_are_refused() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        similarity_transform([(50.0, 50.0)] * 5)
    with pytest.raises(ValueError, match="degenerate"):
        similarity_transform([(math.nan, 1.0)] * 5)


def test_template_landmarks_align_to_the_identity_chip() -> None:
    image = RNG.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    assert np.array_equal(align_face(image, ARCFACE_TEMPLATE.tolist()), image)


def test_bilinear_warp_of_a_linear_ramp_is_exact() -> None:
    """Bilinear interpolation reproduces a linear image exactly, at any sub-pixel shift."""
    ys, xs = np.mgrid[0:60, 0:80]
    ramp = (xs * 2 + ys).astype(np.uint8)
    matrix = np.array([[1.0, 0.0, -10.25], [0.0, 1.0, -5.5]])  # source (x, y) → (x - 10.25, y - 5.5)
    out = warp_affine(ramp, matrix, (40, 30))
    expected = np.rint((xs[:30, :40] + 10.25) * 2 + (ys[:30, :40] + 5.5))
    assert np.array_equal(out, expected.astype(np.uint8))


def test_warp_borders() -> None:
    image = np.full((10, 10, 3), 200, np.uint8)
    shifted = np.array([[1.0, 0.0, 5.0], [0.0, 1.0, 0.0]])
    assert (warp_affine(image, shifted, (10, 10))[:, :5] == 0).all()
    assert (warp_affine(image, shifted, (10, 10), border="replicate") == 200).all()


def test_area_resize_is_the_block_mean_for_whole_factors() -> None:
    image = RNG.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    expected = image.reshape(16, 4, 24, 4, 3).astype(np.float64).mean(axis=(1, 3))
    assert np.abs(resize_area(image, (24, 16)).astype(int) - np.rint(expected)).max() <= 1


def test_area_resize_keeps_the_mean_for_any_factor() -> None:
    image = RNG.integers(0, 256, (360, 640), dtype=np.uint8)
    small = resize_area(image, (96, 54))
    assert small.shape == (54, 96)
    assert abs(float(small.mean()) - float(image.mean())) < 0.5
    flat = np.full((37, 51, 3), 123, np.uint8)
    assert (resize_area(flat, (10, 7)) == 123).all()


def test_grey_is_bt601_luma() -> None:
    pixels = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)  # B, G, R, white
    assert to_grey(pixels).tolist() == [[29, 150, 76, 255]]


def test_laplacian_variance_of_flat_and_checkerboard() -> None:
    assert laplacian_variance(np.full((20, 20), 90, np.uint8)) == 0.0
    board = ((np.indices((20, 20)).sum(axis=0) % 2) * 255).astype(np.uint8)
    assert laplacian_variance(board) > 1e5


def test_jpeg_round_trip_and_png_decode() -> None:
    ys, xs = np.mgrid[0:48, 0:64]
    image = np.dstack([xs * 4, ys * 5, (xs + ys) * 2]).astype(np.uint8)
    decoded = decode_image(encode_jpeg(image, 95))
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image).mean() < 2.0
    buffer = io.BytesIO()
    PilImage.fromarray(image[:, :, ::-1]).save(buffer, format="PNG")
    assert np.array_equal(decode_image(buffer.getvalue()), image)  # BGR, lossless


def test_exif_orientation_is_applied() -> None:
    image = np.zeros((20, 40, 3), np.uint8)
    buffer = io.BytesIO()
    exif = PilImage.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    PilImage.fromarray(image).save(buffer, format="JPEG", exif=exif)
    assert decode_image(buffer.getvalue()).shape == (40, 20, 3)


def test_undecodable_bytes_are_a_value_error() -> None:
    with pytest.raises(ValueError, match="decodable"):
        decode_image(b"\xff\xd8 not really a jpeg")


def test_yunet_padding_and_nms() -> None:
    assert padded_size(640, 360) == (640, 384)
    assert padded_size(641, 1) == (672, 32)
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.5], np.float32)
    assert nms(boxes, scores, 0.6, 0.3, 50) == [0, 2]
    assert nms(boxes, scores, 0.6, 0.3, 1) == [0]
