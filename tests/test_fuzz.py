"""schemathesis against the live service (scripts/fuzz), as one test of the suite.

scripts/fuzz runs the service, a recording test camera and schemathesis in a network
namespace with loopback only, as auditor, staff and admin, and writes the summary to
test-artifacts/fuzz/summary.txt. This test fails on any failure the fuzzer reports, on a
setup error, and on the time cap; the summary (per role: operations, requests, time,
failures by check and operation, one curl each) is the failure message, and is printed
on success too (visible with `pytest -s`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "fuzz"
SUMMARY = REPO / "test-artifacts" / "fuzz" / "summary.txt"
SUMMARY_JSON = SUMMARY.with_suffix(".json")
# scripts/fuzz stops itself at FUZZ_CAP_S (540 s by default); this only guards a hang.
GRACE_S = 30

pytestmark = pytest.mark.fuzz


def _cap_s() -> float:
    return float(os.environ.get("FUZZ_CAP_S", "540"))


def _summary(output: str) -> str:
    """The driver's summary, or, if it wrote none (killed, or failed to start), the output."""
    if SUMMARY.exists():
        return SUMMARY.read_text()
    return output[-6000:] or "(scripts/fuzz printed nothing)"


def test_schemathesis_finds_nothing_against_the_live_service() -> None:
    if os.geteuid() != 0:
        pytest.fail("scripts/fuzz needs root for `unshare --net` (CI runs as root)")
    started = time.monotonic()
    # A summary left from an earlier run must not stand in for this one.
    SUMMARY.unlink(missing_ok=True)
    try:
        proc = subprocess.run(
            [str(SCRIPT)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_cap_s() + GRACE_S,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else ""
        pytest.fail(f"scripts/fuzz hung past its own cap of {_cap_s():.0f} s\n{_summary(out)}")
    elapsed = time.monotonic() - started
    summary = _summary(proc.stdout + proc.stderr)
    print(f"scripts/fuzz: exit {proc.returncode} after {elapsed:.1f} s")
    if proc.returncode == 124:
        pytest.fail(f"scripts/fuzz hit its time cap of {_cap_s():.0f} s\n{summary}")
    if proc.returncode != 0:
        pytest.fail(f"scripts/fuzz failed (exit {proc.returncode})\n{summary}")
    roles = json.loads(SUMMARY_JSON.read_text())["roles"]
    assert roles and all(role["ok"] for role in roles), summary
    print(summary)
