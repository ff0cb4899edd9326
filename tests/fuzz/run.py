"""The fuzz driver: a recording surveil, three signed-in roles, one schemathesis run per role.

Run by scripts/fuzz inside `unshare --net`, so the namespace has loopback only: every host
the fuzzer invents (camera probes, ONVIF, snapshots, discovery) is unreachable, while the
service and the test camera on 127.0.0.1 run real code. The driver refuses to start
anywhere else.

Order matters: auditor (API token), staff (session, one counter), then admin (session),
because the admin run creates and changes accounts. Reports go to
test-artifacts/fuzz/<role>/ (junit, ndjson, st's output); the summary to
test-artifacts/fuzz/summary.txt and summary.json, and to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

from index.db import Database
from surveil.accounts import add_token, add_user, generate_password, new_token
from surveil.clock import SystemClock
from surveil.config import load_config
from tests.cameras import RtspCamera

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "fuzz"
CONFIG_FILE = Path(__file__).resolve().parent / "schemathesis.toml"
# st of the interpreter running this (scripts/fuzz uses .venv/bin/python).
ST = Path(sys.executable).parent / "st"
HOST = "127.0.0.1"
# Inside a fresh namespace every port is free, so a fixed one needs no probing.
PORT = 18080
ROLES = ("auditor", "staff", "admin")
# One worker: with two, Python 3.11's ast.parse races between threads (hypothesis parses
# lambda sources; "SystemError: AST constructor recursion depth mismatch" aborts
# operations), and the interleaving of state changes would differ from run to run.
WORKERS = int(os.environ.get("FUZZ_WORKERS", "1"))
DEFAULT_EXAMPLES = 25
# scripts/fuzz kills everything at 540 s; the driver stops fuzzing earlier so that the
# summary is still written.
DEFAULT_BUDGET_S = 530.0
SUMMARY_RESERVE_S = 5.0
START_TIMEOUT_S = 30.0
FIRST_SEGMENT_TIMEOUT_S = 15.0
# Per ONVIF request and per snapshot. Fuzzed hosts fail at once (no route), so this only
# bounds loopback; a snapshot needs over 1 s (PyAV reads up to 1 s of stream to open it),
# so with 1 s every snapshot of the healthy test camera would be a 502.
ONVIF_TIMEOUT_S = 2
ADMIN, STAFF, VICTIM = "fuzz-admin", "fuzz-staff", "fuzz-victim"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


class FuzzSetupError(RuntimeError):
    """The service, the camera or an account could not be set up."""


class Interrupted(BaseException):
    """SIGTERM (the outer timeout): unwind so the service and camera are stopped."""


@dataclass(frozen=True)
class Credentials:
    """How one role signs its requests: an API token, or a session cookie and its CSRF token."""

    bearer: str = ""
    session: str = ""
    csrf: str = ""

    def env(self) -> dict[str, str]:
        """The variables tests/fuzz/hooks.py reads (never printed)."""
        return {"FUZZ_BEARER": self.bearer, "FUZZ_SESSION": self.session, "FUZZ_CSRF": self.csrf}


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        for raw in self.headers.get_all("Set-Cookie") or []:
            jar.load(raw)
        return {name: morsel.value for name, morsel in jar.items()}


def request(
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout_s: float = 10.0,
) -> Reply:
    """One HTTP request to the service; redirects are returned, not followed."""
    conn = http.client.HTTPConnection(HOST, PORT, timeout=timeout_s)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return Reply(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def session_headers(creds: Credentials) -> dict[str, str]:
    return {"Cookie": f"surveil_session={creds.session}", "X-CSRF-Token": creds.csrf}


def sign_in(username: str, password: str) -> Credentials:
    """Sign in on the login form as a browser would; the CSRF token comes from a page."""
    form = request("GET", "/login")
    login_csrf = form.cookies().get("surveil_login_csrf")
    if form.status != 200 or not login_csrf:
        raise FuzzSetupError(f"GET /login answered {form.status} without a login CSRF cookie")
    fields = {"csrf_token": login_csrf, "username": username, "password": password, "next": "/"}
    done = request(
        "POST",
        "/login",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"surveil_login_csrf={login_csrf}",
        },
        body=urlencode(fields).encode(),
    )
    sid = done.cookies().get("surveil_session")
    if done.status != 303 or not sid:
        raise FuzzSetupError(f"signing in as {username} answered {done.status}, no session")
    page = request("GET", "/lookup", headers={"Cookie": f"surveil_session={sid}"})
    found = CSRF_INPUT.search(page.body.decode("utf-8", "replace"))
    if page.status != 200 or found is None:
        raise FuzzSetupError(f"no CSRF token on /lookup for {username} ({page.status})")
    return Credentials(session=sid, csrf=found.group(1))


def api_create_user(admin: Credentials, body: dict[str, object]) -> None:
    reply = request(
        "POST",
        "/api/v1/users",
        headers={**session_headers(admin), "Content-Type": "application/json"},
        body=json.dumps(body).encode(),
    )
    if reply.status != 201:
        text = reply.body.decode("utf-8", "replace")[:300]
        raise FuzzSetupError(f"creating user {body['username']} answered {reply.status}: {text}")


def toml_config(data_dir: Path, camera_url: str) -> str:
    """SQLite in data_dir; one recording camera on A01; discovery aimed at a closed port."""
    q = json.dumps  # a JSON string is a valid TOML basic string for these values
    return f"""\
data_dir = {q(str(data_dir))}

[web]
listen = "{HOST}:{PORT}"

[recording]
segment_seconds = 2.0
rtsp_timeout_seconds = 2.0

[onvif]
# Unicast discovery to the discard port on loopback: no multicast, no answer.
discovery_address = "127.0.0.1:9"
discovery_bind = "127.0.0.1"
timeout_seconds = {ONVIF_TIMEOUT_S}
reprobe_minutes = 0

[[counters]]
code = "A01"
name = "Window 1"

[[counters]]
code = "A02"
name = "Window 2"

[[cameras]]
name = "a01"
url = {q(camera_url)}
counters = ["A01"]
"""


async def _seed_accounts(database_url: str, admin_password: str) -> str:
    """The auditor's API token and the fuzz-admin account, before the service starts."""
    token, digest = new_token()
    db = await Database.open(database_url)
    try:
        now_us = SystemClock().now_us()
        await add_token(db, "fuzz-auditor", "auditor", digest, now_us)
        await add_user(db, ADMIN, admin_password, "admin", [], now_us)
    finally:
        await db.close()
    return token


def password_for(username: str) -> str:
    """A random password that passes the rule (it cannot contain the user name)."""
    return generate_password(username)


@dataclass
class Service:
    """`surveil serve` as a child process, its output in a log file."""

    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "surveil", "serve", "--config", str(self.config)],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                raise FuzzSetupError(f"surveil serve exited ({rc}):\n{self.tail()}")
            with suppress(OSError):
                if request("GET", "/api/v1/health", timeout_s=2).status == 200:
                    return
            time.sleep(0.2)
        raise FuzzSetupError(f"surveil serve not healthy in {START_TIMEOUT_S} s:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text("utf-8", "replace")[-chars:]

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_first_segment(token: str) -> float | None:
    """Seconds until camera a01 has a segment in the index, or None after the timeout.

    Footage makes segments, clips and lookups answer 200 and 206, not only 404.
    """
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() - started < FIRST_SEGMENT_TIMEOUT_S:
        now = time.time()
        query = urlencode({"camera": "a01", "start": _iso(now - 3600), "end": _iso(now + 60)})
        reply = request("GET", f"/api/v1/recordings?{query}", headers=headers)
        if reply.status == 200:
            body = json.loads(reply.body)
            if any(isinstance(v, list) and v for v in body.values()):
                return time.monotonic() - started
        time.sleep(0.5)
    return None


def _iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def commit_seed() -> int:
    """The first 8 hex digits of HEAD: runs repeat on one commit and differ between commits."""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    return int(head[:8], 16)


def st_command(
    role: str, examples: int, seed: int, report_dir: Path, extra: list[str]
) -> list[str]:
    """The st run for role; extra (e.g. --include-name 'GET /api/v1/health') comes last."""
    return [
        str(ST), "--config-file", str(CONFIG_FILE), "--no-color",
        "run", f"http://{HOST}:{PORT}/api/v1/openapi.json",
        "--checks", "all", "--mode", "all",
        "--max-examples", str(examples), "--workers", str(WORKERS), "--seed", str(seed),
        "--request-timeout", "5", "--max-response-time", "5",
        "--generation-codec", "utf-8",
        "--report", "junit,ndjson", "--report-dir", str(report_dir),
        *extra,
    ]  # fmt: skip


def run_role(
    role: str, creds: Credentials, args: argparse.Namespace, seed: int, timeout_s: float
) -> RoleResult:
    """One st run as role; its output and reports land in test-artifacts/fuzz/<role>/."""
    report_dir = ARTIFACTS / role
    shutil.rmtree(report_dir, ignore_errors=True)
    report_dir.mkdir(parents=True)
    env = {
        **os.environ,
        **creds.env(),
        "FUZZ_ROLE": role,
        "FUZZ_BASE_URL": f"http://{HOST}:{PORT}",
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
    }
    started = time.monotonic()
    timed_out = False
    with open(report_dir / "st.log", "wb") as out:
        proc = subprocess.Popen(
            st_command(role, args.examples, seed, report_dir, args.st_args),
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            proc.wait(timeout=max(timeout_s, 1.0))
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    elapsed = time.monotonic() - started
    return read_role_result(role, report_dir, proc.returncode, elapsed, timed_out=timed_out)


# ------------------------------------------------------------------------------ summary

EXAMPLE_CHARS = 600


@dataclass
class FailureGroup:
    """Every failure of one check on one operation, with the first one as the example."""

    check: str
    code: str
    title: str
    operation: str
    count: int
    curl: str
    response: str


@dataclass
class RoleResult:
    """What one st run did, read from its ndjson report."""

    role: str
    exit_code: int
    elapsed_s: float
    timed_out: bool
    operations: int = 0
    tested: int = 0
    requests: int = 0
    dropped: int = 0
    failures: list[FailureGroup] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def failure_count(self) -> int:
        return sum(g.count for g in self.failures)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.failures and not self.errors

    def as_json(self) -> dict[str, object]:
        return {
            "role": self.role,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "elapsed_s": round(self.elapsed_s, 1),
            "timed_out": self.timed_out,
            "operations": self.operations,
            "operations_tested": self.tested,
            "requests": self.requests,
            "device_errors_allowed": self.dropped,
            "failures": [g.__dict__ for g in self.failures],
            "errors": self.errors,
        }


def _decode(payload: object) -> str:
    if isinstance(payload, dict) and "$base64" in payload:
        raw = base64.b64decode(payload["$base64"])
        return raw.decode("utf-8", "replace")
    if isinstance(payload, dict) and "string" in payload:
        return str(payload["string"])
    return "" if payload is None else str(payload)


def curl_for(request: Mapping[str, object]) -> str:
    """A curl command for a recorded request; credentials are already [Filtered] by st."""
    parts = ["curl", "-X", str(request.get("method", "GET"))]
    headers = request.get("headers")
    if isinstance(headers, dict):
        for name, values in headers.items():
            for value in values if isinstance(values, list) else [values]:
                parts += ["-H", f"{name}: {value}"]
    body = _decode(request.get("body"))
    if body:
        parts += ["--data-binary", body]
    parts.append(str(request.get("uri", "")))
    return shlex.join(parts)


def _response_text(interaction: Mapping[str, object]) -> str:
    response = interaction.get("response")
    if not isinstance(response, dict):
        return "(no response)"
    body = _decode(response.get("content")).replace("\n", " ")
    return f"[{response.get('status_code')}] {body[:300]}"


def _ndjson_events(report_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(report_dir.glob("*.ndjson")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                with suppress(ValueError):
                    event = json.loads(line)
                    if isinstance(event, dict) and len(event) == 1:
                        ((kind, value),) = event.items()
                        if isinstance(value, dict):
                            yield kind, value


Groups = dict[tuple[str, str], FailureGroup]


def _scenario(result: RoleResult, scenario: dict[str, Any], groups: Groups) -> None:
    recorder = scenario.get("recorder") or {}
    interactions: dict[str, Any] = recorder.get("interactions") or {}
    result.requests += len(interactions)
    result.dropped += sum((recorder.get("filtered_failures") or {}).values())
    for case_id, checks in (recorder.get("checks") or {}).items():
        for check in checks:
            if check.get("status") != "failure":
                continue
            info = (check.get("failure_info") or {}).get("failure") or {}
            operation = str(info.get("operation") or recorder.get("label", "?"))
            key = (str(check.get("name")), operation)
            group = groups.get(key)
            if group is not None:
                group.count += 1
                continue
            interaction = interactions.get(case_id) or {}
            groups[key] = FailureGroup(
                check=key[0],
                code=str(info.get("code", "")),
                title=str(info.get("title", "")),
                operation=operation,
                count=1,
                curl=curl_for(interaction.get("request") or {})[:EXAMPLE_CHARS],
                response=_response_text(interaction),
            )


def read_role_result(
    role: str, report_dir: Path, exit_code: int, elapsed_s: float, *, timed_out: bool
) -> RoleResult:
    """Operations, requests, and failures grouped by (check, operation), from the ndjson."""
    result = RoleResult(role, exit_code, elapsed_s, timed_out)
    groups: dict[tuple[str, str], FailureGroup] = {}
    labels: set[str] = set()
    for kind, value in _ndjson_events(report_dir):
        if kind == "LoadingFinished":
            ops = (value.get("statistic") or {}).get("operations") or {}
            result.operations = int(ops.get("selected", 0))
        elif kind == "ScenarioFinished":
            if value.get("status") != "skip" and value.get("phase") != "stateful":
                labels.add(str((value.get("recorder") or {}).get("label")))
            _scenario(result, value, groups)
        elif "Error" in kind:
            info = value.get("info") or value
            label = value.get("label") or ""
            message = info.get("message") or info.get("title") or json.dumps(info)[:300]
            result.errors.append(f"{kind} {label}: {message}"[:EXAMPLE_CHARS])
    result.tested = len(labels)
    result.failures = sorted(groups.values(), key=lambda g: (g.check, g.operation))
    if timed_out:
        result.errors.append(f"st did not finish in its share of the budget ({elapsed_s:.0f} s)")
    elif exit_code != 0 and not result.failures and not result.errors:
        tail = (report_dir / "st.log").read_text("utf-8", "replace")[-1500:]
        result.errors.append(f"st exited {exit_code} without failures in its report:\n{tail}")
    return result


def format_summary(
    results: list[RoleResult],
    *,
    planned: int,
    seed: int,
    examples: int,
    wall_s: float,
    note: str,
    error: str,
) -> tuple[str, dict[str, object]]:
    """A table per role, then failures grouped by check and operation, one curl each."""
    lines = [
        f"fuzz: seed {seed}, {examples} examples per operation (5 for discovery and probes), "
        f"wall time {wall_s:.1f} s",
    ]
    if note:
        lines.append(f"setup: {note}")
    lines.append("502/504: a device's answers on the device operations, allowed (not failures)")
    if error:
        lines.append(f"ERROR: {error}")
    lines.append("")
    header = f"{'role':<8} {'ops':>9} {'requests':>9} {'time':>8} {'failures':>9} {'502/504':>8}"
    lines.append(header + "  result")
    for r in results:
        verdict = "ok" if r.ok else "FAILED"
        lines.append(
            f"{r.role:<8} {r.tested:>4}/{r.operations:<4} {r.requests:>9} "
            f"{r.elapsed_s:>7.1f}s {r.failure_count:>9} {r.dropped:>8}  {verdict}"
        )
    for r in results:
        if r.ok:
            continue
        lines += [
            "",
            f"== {r.role}: {len(r.failures)} (check, operation) groups, "
            f"{r.failure_count} failures; reports in test-artifacts/fuzz/{r.role}/",
        ]
        lines += [f"  error: {e}" for e in r.errors]
        check = None
        for g in r.failures:
            if g.check != check:
                check = g.check
                lines.append(f"  {g.check} ({g.code} {g.title})")
            lines.append(f"    {g.operation}  x{g.count}  -> {g.response[:160]}")
            lines.append(f"      {g.curl}")
    passed = sum(1 for r in results if r.ok)
    # A role that never ran (setup failed, time ran out) counts as failed.
    lines += ["", f"fuzz: {passed} passed, {max(planned, len(results)) - passed} failed"]
    data: dict[str, object] = {
        "seed": seed,
        "examples": examples,
        "wall_s": round(wall_s, 1),
        "note": note,
        "error": error,
        "roles": [r.as_json() for r in results],
    }
    return "\n".join(lines) + "\n", data


def refuse_unless_isolated() -> None:
    """Fuzzed hosts must not be reachable: only loopback may exist in this namespace."""
    # if_nameindex asks this namespace's kernel; /sys/class/net may be the host's mount.
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        raise FuzzSetupError(
            f"network interfaces {interfaces}: run through scripts/fuzz "
            "(unshare --net), which leaves only loopback"
        )


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Interrupted()


@contextmanager
def stack(tmp: Path) -> Iterator[tuple[RtspCamera, Service]]:
    """Camera and service, stopped on every way out (errors and SIGTERM included)."""
    # A keyframe every 0.2 s: a snapshot decodes one well within [onvif] timeout_seconds.
    camera = RtspCamera(log_dir=tmp / "camera", name="fuzzcam", gop=5)
    service = Service(config=tmp / "surveil.toml", log=tmp / "service.log")
    try:
        yield camera, service
    finally:
        service.stop()
        camera.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for log, name in ((service.log, "service.log"), (camera.log_path, "camera.log")):
            if log.exists():
                shutil.copyfile(log, ARTIFACTS / name)


def setup(tmp: Path, camera: RtspCamera, service: Service) -> tuple[dict[str, Credentials], str]:
    """Start everything, create the accounts; the credentials per role and a note on footage."""
    camera.start()
    data_dir = tmp / "data"
    data_dir.mkdir()
    service.config.write_text(toml_config(data_dir, camera.url))
    admin_password = password_for(ADMIN)
    database_url = load_config(service.config).effective_database_url
    token = asyncio.run(_seed_accounts(database_url, admin_password))
    service.start()
    admin = sign_in(ADMIN, admin_password)
    staff_password = password_for(STAFF)
    api_create_user(
        admin,
        {"username": STAFF, "password": staff_password, "role": "staff", "counters": ["A01"]},
    )
    api_create_user(
        admin,
        {"username": VICTIM, "password": password_for(VICTIM), "role": "staff", "counters": []},
    )
    staff = sign_in(STAFF, staff_password)
    waited = wait_first_segment(token)
    note = (
        f"camera a01 had its first segment after {waited:.1f} s"
        if waited is not None
        else f"camera a01 had no segment after {FIRST_SEGMENT_TIMEOUT_S:.0f} s"
    )
    return {"auditor": Credentials(bearer=token), "staff": staff, "admin": admin}, note


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tests.fuzz.run", description=__doc__)
    p.add_argument(
        "--examples",
        type=int,
        default=int(os.environ.get("FUZZ_EXAMPLES", DEFAULT_EXAMPLES)),
        help="max examples per operation (env FUZZ_EXAMPLES; default 25)",
    )
    p.add_argument("--seed", type=int, default=None, help="default: from the HEAD commit")
    p.add_argument("--roles", default=",".join(ROLES), help="comma-separated, in run order")
    p.add_argument(
        "--budget",
        type=float,
        default=float(os.environ.get("FUZZ_BUDGET_S", DEFAULT_BUDGET_S)),
        help="seconds for the whole run, setup included (env FUZZ_BUDGET_S)",
    )
    args, st_args = p.parse_known_args(argv)
    args.st_args = st_args
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _on_sigterm)
    roles = [r for r in args.roles.split(",") if r]
    unknown = set(roles) - set(ROLES)
    if unknown:
        print(f"unknown roles: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else commit_seed()
    results: list[RoleResult] = []
    setup_note = ""
    error = ""
    try:
        refuse_unless_isolated()
        with tempfile.TemporaryDirectory(prefix="surveil-fuzz-") as tmp_name:
            tmp = Path(tmp_name)
            with stack(tmp) as (camera, service):
                creds, setup_note = setup(tmp, camera, service)
                for i, role in enumerate(roles):
                    left = args.budget - SUMMARY_RESERVE_S - (time.monotonic() - started)
                    # Share what is left among the roles still to run.
                    results.append(run_role(role, creds[role], args, seed, left / (len(roles) - i)))
    except FuzzSetupError as exc:
        error = f"setup failed: {exc}"
    except Interrupted:
        error = "interrupted by SIGTERM (the time cap?)"
    text, data = format_summary(
        results,
        planned=len(roles),
        seed=seed,
        examples=args.examples,
        wall_s=time.monotonic() - started,
        note=setup_note,
        error=error,
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "summary.txt").write_text(text)
    (ARTIFACTS / "summary.json").write_text(json.dumps(data, indent=2, ensure_ascii=False))
    print(text)
    ok = not error and results and all(r.ok for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
