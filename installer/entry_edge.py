"""Entry script of the edge-only binary (``appliance-edge``)."""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()

    from appliance.cli.edge_main import main

    main()
