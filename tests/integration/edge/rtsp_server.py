#!/usr/bin/python3
"""A looping RTSP stream of an H.264 MP4, for the edge's RTSP test (and by hand).

Run with the SYSTEM Python (GStreamer's GObject bindings come from Debian packages, not pip):

    /usr/bin/python3 tests/integration/edge/rtsp_server.py VIDEO.mp4 --port 8554 --mount /cam

then read ``rtsp://127.0.0.1:8554/cam``. The MP4 must be H.264, e.g.
``ffmpeg -i in.mp4 -c:v libx264 -pix_fmt yuv420p out.mp4``.

Needs (Debian/Ubuntu): ``apt-get install -y gir1.2-gst-rtsp-server-1.0 python3-gi
gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav ffmpeg``
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def launch_line(video: str) -> str:
    return (
        f"( multifilesrc location={video} loop=true ! qtdemux ! h264parse ! "
        "rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mount", default="/cam")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.video))
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on port {args.port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    signal.signal(signal.SIGTERM, lambda *_: loop.quit())
    signal.signal(signal.SIGINT, lambda *_: loop.quit())
    print(f"serving rtsp://127.0.0.1:{args.port}{args.mount}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
