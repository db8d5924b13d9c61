"""The edge pipeline: capture, detect, gate, align, embed, track, queue, deliver.

The vision parts (detect/align/embed/attributes) also serve the server (staff enrolment,
calibration): one implementation, wherever it runs.
"""
