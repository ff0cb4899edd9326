#!/usr/bin/python3
"""A fake RTSP camera for tests and benchmarks, built on GstRtspServer.

Runs under the Debian interpreter (/usr/bin/python3): the GStreamer bindings exist only there.
Prints exactly one line ``READY rtsp://HOST:PORT/MOUNT`` on stdout once the server listens,
and exits cleanly on SIGTERM/SIGINT or when its parent process dies.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

ROLE = "camera-user"
# Server-side RTP/RTCP ports for UDP clients; a busy port is skipped.
UDP_PORT_MIN, UDP_PORT_MAX = 20000, 60999
# Preference order: voaacenc is the cheapest; avenc_aac and fdkaacenc are fallbacks.
AAC_ENCODERS = ("voaacenc", "avenc_aac", "fdkaacenc")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--mount", action="append", help="mount path; may repeat (default /stream)")
    p.add_argument("--video", choices=("h264", "h265"), default="h264")
    p.add_argument("--audio", choices=("aac", "pcmu", "pcma", "none"), default="aac")
    p.add_argument("--fps", type=int, default=25)
    p.add_argument(
        "--gop", type=int, default=None, help="keyframe interval in frames (default fps)"
    )
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--bitrate", type=int, default=300, help="video bitrate, kbit/s")
    p.add_argument("--pattern", default="ball", help="videotestsrc pattern (ball, smpte, ...)")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument(
        "--auth-method",
        choices=("digest", "basic"),
        default="digest",
        help="RTSP auth scheme when --user is given",
    )
    p.add_argument(
        "--shared",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one encoder pipeline shared by all clients (default)",
    )
    args = p.parse_args(argv)
    if args.gop is None:
        args.gop = args.fps
    if not args.mount:
        args.mount = ["/stream"]
    args.mount = ["/" + m.lstrip("/") for m in args.mount]
    if (args.user is None) != (args.password is None):
        p.error("--user and --password go together")
    # Test cameras must never be reachable from outside the machine.
    if not ipaddress.ip_address(args.host).is_loopback:
        p.error("--host must be a loopback address")
    return args


def element_exists(name: str) -> bool:
    return Gst.ElementFactory.find(name) is not None


def video_branch(a: argparse.Namespace) -> str:
    src = (
        f"videotestsrc is-live=true pattern={a.pattern} "
        f"! video/x-raw,width={a.width},height={a.height},framerate={a.fps}/1 "
        '! timeoverlay font-desc="Sans 10" ! videoconvert ! video/x-raw,format=I420'
    )
    # scenecut=0 keeps keyframes exactly every GOP frames, which the tests assert on.
    if a.video == "h264":
        enc = (
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={a.gop} bframes=0 "
            f"bitrate={a.bitrate} threads=1 option-string=scenecut=0 "
            "! video/x-h264,profile=constrained-baseline "
            "! rtph264pay name=pay0 pt=96 config-interval=-1"
        )
    else:
        # Closed GOPs so every keyframe is an IDR a client can start decoding from.
        enc = (
            f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={a.gop} "
            f'bitrate={a.bitrate} option-string="open-gop=0:scenecut=0:pools=1:frame-threads=1" '
            "! rtph265pay name=pay0 pt=96 config-interval=-1"
        )
    return f"{src} ! {enc}"


def audio_branch(a: argparse.Namespace) -> str:
    if a.audio == "none":
        return ""
    src = "audiotestsrc is-live=true wave=sine freq=440 volume=0.3 ! audioconvert ! audioresample"
    if a.audio == "aac":
        enc = next((e for e in AAC_ENCODERS if element_exists(e)), None)
        if enc is None:
            raise SystemExit(f"no AAC encoder among {AAC_ENCODERS}")
        return (
            f"{src} ! audio/x-raw,rate=16000,channels=1 ! {enc} bitrate=32000 "
            "! rtpmp4gpay name=pay1 pt=97"
        )
    if a.audio == "pcmu":
        return f"{src} ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0"
    return f"{src} ! audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8"


def launch_line(a: argparse.Namespace) -> str:
    return f"( {video_branch(a)} {audio_branch(a)} )"


def make_auth(
    a: argparse.Namespace,
) -> tuple[GstRtspServer.RTSPAuth, GstRtspServer.RTSPPermissions]:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
    # The binding refuses BASIC|DIGEST (not a valid enum value), so one scheme per server.
    if a.auth_method == "basic":
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password), token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
    else:
        auth.add_digest(a.user, a.password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    perms = GstRtspServer.RTSPPermissions()
    perms.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    perms.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    return auth, perms


def main(argv: list[str]) -> int:
    a = parse_args(argv)
    Gst.init(None)
    loop = GLib.MainLoop()

    server = GstRtspServer.RTSPServer()
    server.set_address(a.host)
    server.set_service(str(a.port))
    perms = None
    if a.user is not None:
        auth, perms = make_auth(a)
        server.set_auth(auth)

    # Without a unicast pool GstRtspServer binds RTP/RTCP UDP ports on the wildcard address.
    pool = GstRtspServer.RTSPAddressPool()
    pool.add_range(a.host, a.host, UDP_PORT_MIN, UDP_PORT_MAX, 0)

    line = launch_line(a)
    mounts = server.get_mount_points()
    for mount in a.mount:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(line)
        factory.set_shared(a.shared)
        factory.set_address_pool(pool)
        # Makes the media report itself unseekable. Otherwise every client's PLAY with
        # "Range: npt=0-" (FFmpeg always sends one) does a flushing seek on the shared live
        # pipeline, disturbing the clients already playing and, under a burst of clients,
        # deadlocking the server (GStreamer 1.22).
        factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)
        if perms is not None:
            factory.set_permissions(perms)
        mounts.add_factory(mount, factory)

    # attach() creates, binds and listens synchronously; 0 means the bind failed.
    if server.attach(None) == 0:
        print(f"cannot listen on {a.host}:{a.port}", file=sys.stderr, flush=True)
        return 2

    def quit_loop(*_: object) -> bool:
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, quit_loop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, quit_loop)

    # A test runner killed with SIGKILL cannot stop us; notice the reparenting and leave.
    parent = os.getppid()

    def check_parent() -> bool:
        if os.getppid() != parent:
            print("parent died; exiting", file=sys.stderr, flush=True)
            loop.quit()
            return GLib.SOURCE_REMOVE
        return GLib.SOURCE_CONTINUE

    GLib.timeout_add_seconds(1, check_parent)

    print(f"launch: {line}", file=sys.stderr, flush=True)
    host = f"[{a.host}]" if ":" in a.host else a.host
    print(f"READY rtsp://{host}:{a.port}{a.mount[0]}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
