"""``appliance-edge``: the edge-only command line of the Mac Mini build (installer/appliance-edge.spec).

Capture, models, queue and upload only: ``edge``, ``models``, ``install edge`` / ``uninstall edge``
and ``--version``. Nothing here imports the server stack (Litestar, SQLAlchemy, PostgreSQL, the
vector index), which the edge build leaves out.
"""

from __future__ import annotations

from appliance.cli import edge, install, models
from appliance.cli.common import root_app

app = root_app(
    "appliance-edge",
    (
        "Edge worker of the visitor-analytics appliance.\n\n"
        "edge: run the camera worker. models: list/pull/verify model packs. "
        "install edge / uninstall edge: the launchd agent (macOS)."
    ),
    rich_markup_mode="rich",
)

edge.register(app)
models.register(app)
install.register_edge(app)


def main() -> None:
    import multiprocessing

    multiprocessing.freeze_support()
    app()


if __name__ == "__main__":
    main()
