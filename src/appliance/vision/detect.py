"""Face detection behind a small interface; YuNet on ONNX Runtime by default.

YuNet is fully convolutional, but its published file declares a fixed 640x640 input. It is
loaded with the input's height and width (and the outputs' anchor counts) made symbolic — a
rewrite of the shape fields of the model bytes in memory (:func:`with_free_input_size`) — so any
frame runs at its own size, padded to a multiple of 32, as the reference implementation
(OpenCV's ``FaceDetectorYN``) runs it. Decoding of the three heads and the NMS follow that
implementation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from appliance.vision.images import Image
from appliance.vision.runtime import onnx_session, require_model

STRIDES = (8, 16, 32)
PAD_DIVISOR = 32


class Face(msgspec.Struct, frozen=True):
    bbox: tuple[float, float, float, float]
    """[x, y, w, h] in pixels."""
    landmarks: tuple[tuple[float, float], ...]
    """Five points: image-left eye, image-right eye, nose, image-left / image-right mouth corner."""
    score: float

    @property
    def area(self) -> float:
        return self.bbox[2] * self.bbox[3]


class Detector(Protocol):
    name: str

    def detect(self, image: Image) -> list[Face]: ...


# -- the model's shapes ---------------------------------------------------------------------------
# ONNX is protobuf: ModelProto.graph (7) → GraphProto.input (11) / output (12) → ValueInfoProto.type
# (2) → TypeProto.tensor_type (1) → shape (2) → dim (1) → dim_value (1) | dim_param (2).
_VARINT, _LEN = 0, 2


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(data: bytes) -> list[tuple[int, int, bytes]]:
    """(field number, wire type, raw value bytes) of one message, in order."""
    out, at = [], 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        start = at
        if wire == _VARINT:
            _, at = _varint(data, at)
            value = data[start:at]
        elif wire == _LEN:
            length, at = _varint(data, at)
            value, at = data[at : at + length], at + length
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 5:
            value, at = data[at : at + 4], at + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((number, wire, value))
    return out


def _serialise(fields: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray()
    for number, wire, value in fields:
        out += _encode_varint(number << 3 | wire)
        if wire == _LEN:
            out += _encode_varint(len(value))
        out += value
    return bytes(out)


def _replace(data: bytes, number: int, edit: Any) -> bytes:
    """``data`` with each length-delimited field ``number`` replaced by ``edit(value, index)``."""
    fields, index = [], 0
    for field in _fields(data):
        if field[0] == number and field[1] == _LEN:
            field = (number, _LEN, edit(field[2], index))
            index += 1
        fields.append(field)
    return _serialise(fields)


def _free_dims(value_info: bytes, free: dict[int, str]) -> bytes:
    def shape(data: bytes, _: int) -> bytes:
        def dim(data: bytes, index: int) -> bytes:
            if index not in free:
                return data
            return _serialise([(2, _LEN, free[index].encode())])

        return _replace(data, 1, dim)

    def tensor(data: bytes, _: int) -> bytes:
        return _replace(data, 2, shape)

    def type_(data: bytes, _: int) -> bytes:
        return _replace(data, 1, tensor)

    return _replace(value_info, 2, type_)


def with_free_input_size(model: bytes) -> bytes:
    """The model with its input's height and width (dims 2, 3) and its outputs' anchor counts
    (dim 1) symbolic; shapes inferred inside the graph (``value_info``) are dropped."""

    def graph(data: bytes, _: int) -> bytes:
        fields = [f for f in _fields(data) if f[0] != 13]  # value_info: fixed intermediate shapes
        edited = []
        for number, wire, value in fields:
            if number == 11 and wire == _LEN:
                value = _free_dims(value, {2: "height", 3: "width"})
            elif number == 12 and wire == _LEN:
                value = _free_dims(value, {1: "anchors"})
            edited.append((number, wire, value))
        return _serialise(edited)

    return _replace(model, 7, graph)


# -- decoding ---------------------------------------------------------------------------------------
def padded_size(width: int, height: int, divisor: int = PAD_DIVISOR) -> tuple[int, int]:
    return ((width - 1) // divisor + 1) * divisor, ((height - 1) // divisor + 1) * divisor


def decode_heads(
    outputs: dict[str, npt.NDArray[np.float32]], padded: tuple[int, int]
) -> npt.NDArray[np.float32]:
    """Rows ``[x, y, w, h, 5 pairs (x, y), score]`` for every anchor of the three strides."""
    width, height = padded
    rows = []
    for stride in STRIDES:
        cols, lines = width // stride, height // stride
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0.0, 1.0)
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)
        kps = outputs[f"kps_{stride}"].reshape(-1, 10)
        r, c = np.divmod(np.arange(lines * cols, dtype=np.float32), np.float32(cols))
        score = np.sqrt(cls * obj)
        cx = (c + bbox[:, 0]) * stride
        cy = (r + bbox[:, 1]) * stride
        w = np.exp(bbox[:, 2]) * stride
        h = np.exp(bbox[:, 3]) * stride
        points = np.empty_like(kps)
        points[:, 0::2] = (kps[:, 0::2] + c[:, None]) * stride
        points[:, 1::2] = (kps[:, 1::2] + r[:, None]) * stride
        rows.append(
            np.column_stack([cx - w / 2, cy - h / 2, w, h, points, score]).astype(np.float32, copy=False)
        )
    return np.concatenate(rows)


def nms(
    boxes: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    score_threshold: float,
    iou: float,
    top_k: int,
) -> list[int]:
    """Greedy NMS on whole-pixel boxes ``[x, y, w, h]``: candidates above ``score_threshold``, the
    ``top_k`` best, each kept unless it overlaps a kept one by more than ``iou``."""
    candidates = np.flatnonzero(scores > score_threshold)
    order = candidates[np.argsort(-scores[candidates], kind="stable")]
    if top_k > 0:
        order = order[:top_k]
    ints = np.trunc(boxes[:, :4]).astype(np.int64)
    x1, y1 = ints[:, 0], ints[:, 1]
    x2, y2 = x1 + ints[:, 2], y1 + ints[:, 3]
    area = ints[:, 2] * ints[:, 3]
    kept: list[int] = []
    for index in order:
        if kept:
            others = np.asarray(kept)
            w = np.maximum(0, np.minimum(x2[index], x2[others]) - np.maximum(x1[index], x1[others]))
            h = np.maximum(0, np.minimum(y2[index], y2[others]) - np.maximum(y1[index], y1[others]))
            inter = w * h
            union = area[index] + area[others] - inter
            overlap = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
            if np.any(overlap > iou):
                continue
        kept.append(int(index))
    return kept


class YuNetDetector:
    """YuNet (libfacedetection, MIT): fast on a CPU, any input size, five landmarks already in
    ArcFace order. Not thread-safe per instance only in that calls are serialised by ONNX Runtime."""

    name = "yunet"

    def __init__(
        self,
        model_path: Path,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 50,
        threads: int = 1,
    ) -> None:
        require_model(model_path, "detector")
        graph = with_free_input_size(model_path.read_bytes())
        # quiet: the declared output shapes differ from the run's, as expected
        self._session = onnx_session(graph, threads=threads, quiet=True)
        self._input = self._session.get_inputs()[0].name
        self._outputs = [o.name for o in self._session.get_outputs()]
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.top_k = top_k

    def detect(self, image: Image) -> list[Face]:
        height, width = image.shape[:2]
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("expected a BGR image (H, W, 3)")
        padded = padded_size(width, height)
        blob = np.zeros((1, 3, padded[1], padded[0]), dtype=np.float32)
        blob[0, :, :height, :width] = image.transpose(2, 0, 1)
        values = self._session.run(self._outputs, {self._input: blob})
        rows = decode_heads(dict(zip(self._outputs, values, strict=True)), padded)
        kept = nms(rows[:, :4], rows[:, 14], self.score_threshold, self.nms_threshold, self.top_k)
        faces = []
        for row in rows[kept]:
            x, y, w, h = (float(v) for v in row[:4])
            points = tuple((float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5))
            faces.append(Face(bbox=(x, y, w, h), landmarks=points, score=float(row[14])))
        return sorted(faces, key=lambda f: f.area, reverse=True)
