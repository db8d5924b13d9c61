"""Retail visitor-analytics appliance: one package, one CLI (`appliance`)."""

import os

# One BLAS thread unless the operator says otherwise. It must be set before numpy is first
# imported. OpenBLAS's extra threads busy-wait between the many small products of ingest and take
# the core that PostgreSQL needs (docs/adr/0008).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
