"""ASGI entry point for uvicorn: ``appliance.server.asgi:app``."""

from appliance.lib import heap
from appliance.server.app import create_app

heap.enable()  # a server process: freeze what start-up made (lib/heap.py)
app = create_app()
