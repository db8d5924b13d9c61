"""Records what the OpenCV implementation (opencv-python-headless 5.1, before ADR 0016) gave on
the photos in shared/faces, for ``test_vision_reference.py``: YuNet's rows, the embedding of the
LMEDS-aligned 112x112 chip and the gender of the dlib chip, per photo.

    python tests/unit/vision/make_cv2_reference.py   # needs opencv-python-headless; writes cv2_reference.json

Kept to show where the figures come from; the test itself needs no OpenCV.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from appliance.config import load_settings
from appliance.demo import DEFAULT_FACES, resolve_models_dir
from appliance.vision.align import ARCFACE_TEMPLATE
from appliance.vision.attributes import DLIB_FIVE, DLIB_PADDING, GENDER_LABELS, GENDER_SIZE, dlib_input
from appliance.vision.embed import load_embedder
from appliance.vision.faces import DETECTOR_FILE
from appliance.vision.models import sha256_file

EMBEDDER = "paddle_mobileface_arcface_128d.onnx"
OUT = Path(__file__).with_name("cv2_reference.json")


def main() -> int:
    models, faces = resolve_models_dir(load_settings()), Path(DEFAULT_FACES)
    net = cv2.FaceDetectorYN.create(str(models / DETECTOR_FILE), "", (320, 320), 0.6, 0.3, 50)
    embedder = load_embedder(models / EMBEDDER)
    import onnxruntime

    gender = onnxruntime.InferenceSession(str(models / "gender-v1.onnx"), providers=["CPUExecutionProvider"])
    photos = {}
    for path in sorted(faces.glob("*/*.jpg")):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        net.setInputSize((image.shape[1], image.shape[0]))
        _, rows = net.detect(image)
        rows = [] if rows is None else sorted(rows.tolist(), key=lambda r: -r[2] * r[3])
        entry: dict[str, object] = {"rows": [[round(v, 4) for v in row] for row in rows]}
        if rows and not path.parent.name.startswith("_"):
            points = np.asarray(rows[0][4:14], np.float32).reshape(5, 2)
            matrix, inliers = cv2.estimateAffinePartial2D(points, ARCFACE_TEMPLATE, method=cv2.LMEDS)
            chip = cv2.warpAffine(image, matrix, (112, 112), borderValue=(0, 0, 0))
            vector = embedder.embed([chip])[0].astype(np.float16)
            big = GENDER_SIZE * 4
            template = (DLIB_FIVE + DLIB_PADDING) / (1 + 2 * DLIB_PADDING) * big
            m2, _ = cv2.estimateAffinePartial2D(points, template, method=cv2.LMEDS)
            dchip = cv2.warpAffine(
                image, m2, (big, big), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            dchip = cv2.resize(dchip, (GENDER_SIZE, GENDER_SIZE), interpolation=cv2.INTER_AREA)
            p = gender.run(None, {"images": dlib_input([dchip])})[0][0]
            entry |= {
                "lmeds_all_points": bool(inliers.all()),
                "embedding_f16": base64.b64encode(vector.tobytes()).decode(),
                "gender": GENDER_LABELS[int(np.argmax(p))],
            }
        photos[f"{path.parent.name}/{path.name}"] = entry
    reference = {
        "opencv": cv2.__version__,
        "embedder": EMBEDDER,
        "embedder_sha256": sha256_file(models / EMBEDDER),
        "photos": photos,
    }
    OUT.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {OUT} ({len(photos)} photos)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
