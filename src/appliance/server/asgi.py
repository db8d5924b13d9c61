"""ASGI entry point for uvicorn: ``appliance.server.asgi:app``."""

from appliance.server.app import create_app

app = create_app()
