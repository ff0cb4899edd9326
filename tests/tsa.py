"""A real RFC 3161 time-stamping authority on loopback, for tests: ``openssl ts -reply``.

In a temporary folder, with the openssl command line: a root CA, a TSA certificate it signs
(``extendedKeyUsage = critical,timeStamping``, as RFC 3161 §2.3 requires), and an openssl.cnf
whose ``[tsa]`` section points at them. An aiohttp server on 127.0.0.1 (a free port) answers each
POST by writing the query to a file and running ``openssl ts -reply`` on it, one process per
request, as a small TSA would. Usage::

    async with local_tsa(tmp_path) as tsa:
        token = await fetch_token(tsa.url, data)
        verify_token(token, data, tsa.root_pem)

``digests`` narrows the hashes the TSA accepts, so a test can have it reject a request;
``tsa_is_ca`` gives it a (wrong) CA signing certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

TSA_POLICY = "1.3.6.1.4.1.55555.1.1"  # a made-up policy OID for the test TSA
_MAX_QUERY = 64 * 1024
_counter = itertools.count()


@dataclass(frozen=True)
class LocalTsa:
    """A running local TSA: where to POST, and the root certificate that anchors its tokens."""

    url: str
    root_pem: bytes
    tsa_cert_pem: bytes
    subject: str
    folder: Path


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.decode()}")


def _make_pki(folder: Path, name: str, digests: str, tsa_is_ca: bool) -> Path:
    """Root CA, TSA certificate and openssl.cnf in folder; the path of the openssl.cnf."""
    folder.mkdir(parents=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl(
        *["req", "-x509", "-new", *ec, "-keyout", "root.key", "-out", "root.crt"],
        *["-subj", f"/O=surveil tests/CN={name} root", "-days", "2", "-sha256"],
        *["-addext", "basicConstraints=critical,CA:TRUE"],
        *["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        cwd=folder,
    )
    _openssl(
        *["req", "-new", *ec, "-keyout", "tsa.key", "-out", "tsa.csr"],
        *["-subj", f"/O=surveil tests/CN={name}"],
        cwd=folder,
    )
    (folder / "tsa_ext.cnf").write_text(
        "[tsa_cert]\n"
        f"basicConstraints = critical,CA:{'TRUE' if tsa_is_ca else 'FALSE'}\n"
        "keyUsage = critical,digitalSignature\n"
        "extendedKeyUsage = critical,timeStamping\n"
        # Longer than the root's, so openssl's unsorted certificate set (signer first) is
        # never in DER order by chance: every test goes through the client's re-sorting.
        "subjectAltName = URI:https://tsa.surveil.test/rfc3161/time-stamping-authority\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid\n"
    )
    _openssl(
        *["x509", "-req", "-in", "tsa.csr", "-CA", "root.crt", "-CAkey", "root.key"],
        *["-set_serial", "2", "-days", "2", "-sha256", "-out", "tsa.crt"],
        *["-extfile", "tsa_ext.cnf", "-extensions", "tsa_cert"],
        cwd=folder,
    )
    (folder / "serial").write_text("01\n")
    config = folder / "openssl.cnf"
    config.write_text(
        "[tsa]\n"
        "default_tsa = tsa_config\n"
        "\n"
        "[tsa_config]\n"
        f"dir = {folder}\n"
        "serial = $dir/serial\n"
        "crypto_device = builtin\n"
        "signer_cert = $dir/tsa.crt\n"
        "certs = $dir/root.crt\n"
        "signer_key = $dir/tsa.key\n"
        "signer_digest = sha256\n"
        f"default_policy = {TSA_POLICY}\n"
        f"digests = {digests}\n"
        "accuracy = secs:1, millisecs:0, microsecs:0\n"
        "clock_precision_digits = 3\n"
        "ordering = yes\n"
        "tsa_name = yes\n"
        "ess_cert_id_chain = no\n"
        "ess_cert_id_alg = sha256\n"
    )
    return config


def _app(folder: Path, config: Path) -> web.Application:
    lock = asyncio.Lock()  # openssl ts updates the serial file: one request at a time

    async def reply(request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/timestamp-query":
            return web.Response(status=415, text="expected application/timestamp-query\n")
        query = await request.read()
        if not query or len(query) > _MAX_QUERY:
            return web.Response(status=400, text="bad query size\n")
        n = next(_counter)
        query_file, reply_file = folder / f"q{n}.tsq", folder / f"r{n}.tsr"
        query_file.write_bytes(query)
        async with lock:
            process = await asyncio.create_subprocess_exec(
                *["openssl", "ts", "-reply", "-config", str(config)],
                *["-queryfile", str(query_file), "-out", str(reply_file)],
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, stderr = await process.communicate()
        if process.returncode != 0 or not reply_file.exists():
            return web.Response(status=500, text=f"openssl ts failed: {stderr.decode()}\n")
        return web.Response(
            body=reply_file.read_bytes(), content_type="application/timestamp-reply"
        )

    app = web.Application(client_max_size=_MAX_QUERY)
    app.router.add_post("/", reply)
    return app


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run app on 127.0.0.1 at a free port; its base URL (ending in '/')."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}/"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def local_tsa(
    tmp_path: Path,
    *,
    name: str = "surveil test TSA",
    digests: str = "sha256, sha384, sha512",
    tsa_is_ca: bool = False,
) -> AsyncIterator[LocalTsa]:
    """A TSA with its own fresh root CA in a new folder under tmp_path, on loopback.

    digests (comma-separated openssl names) narrows what it stamps; tsa_is_ca makes its
    signing certificate a CA, which a verifier must refuse.
    """
    folder = tmp_path / f"tsa-{next(_counter)}"
    config = await asyncio.to_thread(_make_pki, folder, name, digests, tsa_is_ca)
    async with serve(_app(folder, config)) as url:
        yield LocalTsa(
            url=url,
            root_pem=(folder / "root.crt").read_bytes(),
            tsa_cert_pem=(folder / "tsa.crt").read_bytes(),
            subject=f"CN={name},O=surveil tests",
            folder=folder,
        )
