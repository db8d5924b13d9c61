"""The edge pipeline: capture, detect, gate, align, embed, track, queue, deliver.

The vision parts (detect/align/embed/attributes, model packs, images) live in
:mod:`appliance.vision`, which the server uses too (staff enrolment, calibration).
"""
