"""Retail visitor-analytics appliance: one package, one CLI (`appliance`)."""

import os

# One BLAS thread unless the operator says otherwise. It must be set before numpy is first
# imported. The API's numpy work is many small matrix products (pending vectors, exemplars);
# OpenBLAS's extra threads gain nothing there, and they busy-wait between products: under ingest
# load that spinning took 44 % of a core on a 2-core box, and throughput rose from 199 to 258
# events/s without it (docs/adr/0006).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
