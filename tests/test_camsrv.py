"""The fake RTSP cameras themselves: codecs, auth, lifecycle and timing as a client sees them."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import av
import pytest

from tests.cameras import ProbeError, RtspCamera, free_port, probe


@pytest.mark.parametrize(
    ("video", "audio", "want_video", "want_audio"),
    [
        ("h264", "aac", "h264", "aac"),
        ("h265", "aac", "hevc", "aac"),
        ("h264", "pcmu", "h264", "pcm_mulaw"),
        ("h264", "pcma", "h264", "pcm_alaw"),
        ("h264", "none", "h264", None),
    ],
)
def test_codecs(rtsp_camera, video, audio, want_video, want_audio):
    cam = rtsp_camera(video=video, audio=audio)
    info = probe(cam.url, seconds=1)
    assert info["video"] == want_video
    assert info["audio"] == want_audio
    v = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert (v["width"], v["height"]) == (320, 240)
    if want_audio is not None:
        a = next(s for s in info["streams"] if s["codec_type"] == "audio")
        assert int(a["sample_rate"]) == (16000 if audio == "aac" else 8000)


def test_ready_line_and_clean_sigterm(rtsp_camera):
    cam = rtsp_camera(audio="none")
    assert f"READY {cam.url_without_credentials}" in cam.log_text()
    proc = cam._proc
    assert proc is not None
    cam.stop()
    assert proc.returncode == 0
    assert not cam.alive


@pytest.mark.parametrize("method", ["digest", "basic"])
def test_auth(rtsp_camera, method):
    cam = rtsp_camera(audio="none", user="admin", password="p@ss:w/rd 1", auth_method=method)
    assert "p%40ss%3Aw%2Frd%201@" in cam.url
    assert cam.url_without_credentials.startswith("rtsp://127.0.0.1:")
    assert probe(cam.url, seconds=0.5)["video"] == "h264"
    with pytest.raises(ProbeError, match="401"):
        probe(cam.url_with("admin", "wrong"), seconds=0.5)
    with pytest.raises(ProbeError, match="401"):
        probe(cam.url_without_credentials, seconds=0.5)


def test_kill_and_restart_same_port(rtsp_camera):
    cam = rtsp_camera(audio="none")
    port = cam.port
    assert probe(cam.url, seconds=0.5)["video"] == "h264"
    cam.kill()
    assert not cam.alive
    with pytest.raises(ProbeError):
        probe(cam.url, seconds=0.5, io_timeout_s=1)
    cam.restart()
    assert cam.alive and cam.port == port
    assert probe(cam.url, seconds=0.5)["video"] == "h264"
    # A graceful stop/restart cycle works as well.
    cam.restart()
    assert probe(cam.url, seconds=0.5)["video"] == "h264"


def test_freeze_and_thaw(rtsp_camera):
    cam = rtsp_camera(audio="none")
    cam.freeze()
    assert cam.alive
    started = time.monotonic()
    with pytest.raises(ProbeError):
        probe(cam.url, seconds=0.5, io_timeout_s=1)
    assert time.monotonic() - started < 10
    cam.thaw()
    assert probe(cam.url, seconds=0.5)["video"] == "h264"


def test_start_fails_loudly_on_busy_port(tmp_path):
    first = RtspCamera(log_dir=tmp_path, name="first", audio="none").start()
    try:
        second = RtspCamera(log_dir=tmp_path, name="second", port=first.port, audio="none")
        with pytest.raises(RuntimeError, match="exited"):
            second.start()
        assert not second.alive
    finally:
        first.stop()


def test_teardown_stops_frozen_camera(rtsp_camera):
    cam = rtsp_camera(audio="none", port=free_port())
    cam.freeze()
    # SIGTERM stays pending on a stopped process; stop() must thaw first or it would hang.
    proc = cam._proc
    cam.stop()
    assert proc is not None and proc.returncode is not None


def _demux(url: str, seconds: float) -> tuple[list[Any], list[Any], int]:
    """Collect (video, audio) packets spanning `seconds` of video time, and the untimed count."""
    video: list[Any] = []
    audio: list[Any] = []
    untimed = 0
    deadline = time.monotonic() + seconds + 10
    with av.open(url, options={"rtsp_transport": "tcp", "timeout": "3000000"}) as c:
        vstream = c.streams.video[0]
        tb = vstream.time_base
        for pkt in c.demux():
            if pkt.size == 0:
                continue
            if pkt.pts is None or pkt.dts is None:
                untimed += 1
                continue
            (video if pkt.stream.type == "video" else audio).append(pkt)
            if len(video) > 1 and (video[-1].pts - video[0].pts) * tb >= seconds:
                break
            assert time.monotonic() < deadline, "stream too slow"
    return video, audio, untimed


@pytest.mark.parametrize("video_codec", ["h264", "h265"])
def test_pyav_keyframes_and_timestamps(rtsp_camera, video_codec):
    fps, gop = 25, 10
    cam = rtsp_camera(video=video_codec, audio="aac", fps=fps, gop=gop)
    video, audio, untimed = _demux(cam.url, seconds=2.0)
    # FFmpeg's RTSP demuxer hands out the very first packet without pts/dts.
    assert untimed <= 2
    assert len(video) >= 2 * fps - 2
    assert audio, "no audio packets"

    vts = [p.dts for p in video]
    assert all(b > a for a, b in itertools.pairwise(vts)), "video dts not increasing"
    ats = [p.pts for p in audio]
    assert all(b > a for a, b in itertools.pairwise(ats)), "audio pts not increasing"

    tb = video[0].time_base
    frame = 1 / (fps * tb)  # one frame in time-base ticks
    steps = [b - a for a, b in itertools.pairwise(vts)]
    assert all(abs(s - frame) <= frame / 4 for s in steps), steps

    keys = [p.pts for p in video if p.is_keyframe]
    assert len(keys) >= 4
    intervals = [(b - a) / frame for a, b in itertools.pairwise(keys)]
    assert all(abs(i - gop) <= 1 for i in intervals), intervals


def test_shared_media_survives_a_burst_of_clients(rtsp_camera):
    """Clients joining at once all get the stream, and a playing client sees no hiccup."""
    fps = 25
    cam = rtsp_camera(audio="aac", fps=fps)
    with av.open(cam.url, options={"rtsp_transport": "tcp", "timeout": "3000000"}) as c:
        vstream = c.streams.video[0]
        frame = 1 / (fps * vstream.time_base)
        with ThreadPoolExecutor(12) as pool:
            burst = [pool.submit(probe, cam.url, 0.5) for _ in range(12)]
            dts: list[int] = []
            for pkt in c.demux(vstream):
                if pkt.dts is not None and pkt.size:
                    dts.append(pkt.dts)
                if len(dts) > 2 * fps and all(f.done() for f in burst):
                    break
            infos = [f.result() for f in burst]
    assert all(i["video"] == "h264" and i["audio"] == "aac" for i in infos)
    steps = [b - a for a, b in itertools.pairwise(dts)]
    assert all(abs(s - frame) <= frame / 4 for s in steps), steps
