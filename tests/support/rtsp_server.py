"""A live RTSP server for tests (GStreamer's RTSP server), run as its own process so that a test can kill it.

    /usr/bin/python3 tests/support/rtsp_server.py PORT FPS

It runs on the system's Python, which has the Debian packages' GStreamer bindings (python3-gi,
gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-base and -good). It serves a live test picture as
RTP/JPEG at ``rtsp://127.0.0.1:PORT/live``; port 0 picks a free one. The port is printed on the first
line of stdout (``port N``) once the server listens. It serves until killed.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    port, fps = sys.argv[1], int(float(sys.argv[2]))
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=160,height=120,"
                       f"framerate={fps}/1 ! jpegenc ! rtpjpegpay name=pay0 pt=26 )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/live", factory)
    if server.attach(None) == 0:
        print("error: could not listen", flush=True)
        return 1
    print(f"port {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
