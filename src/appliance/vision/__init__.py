"""What the edge and the server share to see faces: detection (YuNet), 5-point alignment,
embedding and attribute models (ONNX Runtime / CoreML), the model packs, and image decoding —
numpy, ONNX Runtime, Pillow (decode) and simplejpeg (encode); no OpenCV (docs/adr/0016).

Nothing here imports :mod:`appliance.edge` or the server."""
