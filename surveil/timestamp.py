"""RFC 3161 time-stamp tokens for checkpoints, from a configured time-stamping authority (TSA).

Optional, only when a TSA is configured: a token is independent evidence, from a third party's
clock and key, that a checkpoint's text existed no later than the token's time. The request and
response are ASN.1 built and parsed by ``rfc3161-client``; the HTTP exchange (RFC 3161 §3.4:
``application/timestamp-query`` in, ``application/timestamp-reply`` out) goes through aiohttp.

:func:`fetch_token` returns the DER ``TimeStampToken`` alone (a CMS ``ContentInfo`` holding
``SignedData`` over ``TSTInfo``), not the whole ``TimeStampResp``: the status wrapper only says
"granted", which fetch_token has already checked, and the token is what an auditor verifies and
what other tools (``openssl ts -verify -token_in``) read. fetch_token checks the exchange (HTTP
status, content type, PKI status, nonce, message imprint) but not the TSA's signature, for which a
trust anchor is needed: :func:`verify_token` checks that, against the TSA's root certificate.

Two things are done by hand around rfc3161-client, with a minimal DER reader at the end of this
module: the token's certificate set is put in DER order before parsing (``openssl ts`` writes it
unsorted and the library refuses that; the set is not signed, so the returned token is the
sorted one), and genTime's fraction of a second is read from the TSTInfo (the library keeps
whole seconds).

Messages never include credentials: a TSA URL is shown without its user, password and query.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Final

import aiohttp
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)
from yarl import URL

QUERY_TYPE: Final = "application/timestamp-query"
REPLY_TYPE: Final = "application/timestamp-reply"
SHA256_OID: Final = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
_MAX_REPLY: Final = 1024 * 1024  # a reply with a certificate chain is a few kB
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_GRANTED_STATUS: Final = bytes.fromhex("3003020100")  # PKIStatusInfo { status granted }


class TimestampError(Exception):
    """A TSA could not give a valid token, or a token does not verify. Never holds credentials."""

    code: ClassVar[str] = "timestamp_failed"


@dataclass(frozen=True)
class TimestampInfo:
    """What a verified token says: when (µs since the epoch, UTC), its serial, and who signed it.

    ``tsa`` is the subject (RFC 4514) of the certificate whose signature verified, rather than
    the token's optional, unsigned-by-construction ``tsa`` name field.
    """

    gen_time_us: int
    serial: int
    tsa: str


def _safe_url(url: str) -> str:
    """The URL without user, password, query or fragment, fit for a message."""
    try:
        parsed = URL(url)
        return str(parsed.with_user(None).with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return "<unparsable URL>"


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _check_imprint(response: TimeStampResponse, digest: bytes, what: str) -> None:
    imprint = response.tst_info.message_imprint
    if imprint.hash_algorithm != SHA256_OID:
        raise TimestampError(
            f"{what} stamps a {imprint.hash_algorithm.dotted_string} hash, not SHA-256"
        )
    if imprint.message != digest:
        raise TimestampError(f"{what} stamps another message than the one given")


async def _post(url: str, query: bytes, timeout_s: float) -> bytes:
    safe = _safe_url(url)
    try:
        scheme = URL(url).scheme
    except (ValueError, TypeError):
        scheme = ""
    if scheme not in ("http", "https"):
        raise TimestampError(f"the TSA URL {safe} is not http or https")
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    headers = {"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE}
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, data=query, headers=headers, allow_redirects=False) as reply,
        ):
            if reply.status != 200:
                raise TimestampError(f"the TSA at {safe} answered HTTP {reply.status}")
            if reply.content_type != REPLY_TYPE:
                raise TimestampError(
                    f"the TSA at {safe} answered {reply.content_type!r}, not {REPLY_TYPE}: "
                    "is this URL a time-stamping authority?"
                )
            body = bytearray()
            async for chunk in reply.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > _MAX_REPLY:
                    raise TimestampError(f"the TSA at {safe} sent more than {_MAX_REPLY} bytes")
    except TimeoutError:
        raise TimestampError(f"the TSA at {safe} did not answer within {timeout_s:g} s") from None
    except aiohttp.ClientConnectorError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TimestampError(f"cannot reach the TSA at {safe}: {reason}") from None
    except aiohttp.ClientError as exc:
        # The exception's text may repeat the whole URL, credentials included: name its type.
        raise TimestampError(
            f"the exchange with the TSA at {safe} failed: {type(exc).__name__}"
        ) from None
    return bytes(body)


async def fetch_token(url: str, data: bytes, *, timeout_s: float = 10.0) -> bytes:
    """The DER TimeStampToken a TSA gives for SHA-256(data); TimestampError if it gives none.

    The request carries a random nonce and asks for the TSA's certificate (certReq), so the
    token can be verified with only the TSA's root.
    """
    if not data:
        raise TimestampError("there is nothing to timestamp: the data is empty")
    digest = hashlib.sha256(data).digest()
    request = (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    safe = _safe_url(url)
    body = await _post(url, request.as_bytes(), timeout_s)
    try:
        response = decode_timestamp_response(_normalized_reply(body))
    except ValueError:
        raise TimestampError(
            f"the TSA at {safe} sent a reply that is not a TimeStampResp"
        ) from None
    if response.status != PKIStatus.GRANTED:
        try:
            status = PKIStatus(response.status).name.lower()
        except ValueError:
            status = str(response.status)
        text = "; ".join(response.status_string) or "no reason given"
        raise TimestampError(f"the TSA at {safe} refused the request ({status}): {text}")
    try:
        nonce = response.tst_info.nonce
    except ValueError:
        nonce = None
    if nonce != request.nonce:
        raise TimestampError(f"the TSA at {safe} answered with another nonce (a replayed reply?)")
    _check_imprint(response, digest, f"the token from {safe}")
    return response.time_stamp_token()


def verify_token(token: bytes, data: bytes, root_pem: bytes) -> TimestampInfo:
    """What token says, once its signature chains to root_pem and it stamps SHA-256(data).

    root_pem may hold several certificates (each a trust anchor). TimestampError otherwise.
    """
    try:
        roots = x509.load_pem_x509_certificates(root_pem)
    except ValueError:
        raise TimestampError("the TSA root is not a PEM certificate") from None
    # rfc3161-client verifies responses: wrap the token in a "granted" TimeStampResp.
    token = _sort_certificates(token, 0)
    body = _GRANTED_STATUS + token
    try:
        response = decode_timestamp_response(b"\x30" + _der_length(len(body)) + body)
    except ValueError:
        raise TimestampError("the token is not a DER TimeStampToken") from None
    _check_imprint(response, hashlib.sha256(data).digest(), "the token")
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify(response, hashlib.sha256(data).digest())
    except VerificationError as exc:
        raise TimestampError(f"the token does not verify: {exc}") from None
    gen_time = response.tst_info.gen_time
    if gen_time.tzinfo is None:
        gen_time = gen_time.replace(tzinfo=UTC)  # GeneralizedTime in a token is UTC (RFC 3161)
    gen_time_us = (gen_time - _EPOCH) // timedelta(microseconds=1)
    fraction_us = _gen_time_fraction_us(token)
    if fraction_us is not None:
        gen_time_us = gen_time_us // 1_000_000 * 1_000_000 + fraction_us
    return TimestampInfo(
        gen_time_us=gen_time_us,
        serial=response.tst_info.serial_number,
        tsa=_signer_certificate(response).subject.rfc4514_string(),
    )


def _signer_certificate(response: TimeStampResponse) -> x509.Certificate:
    """The certificate the token's SignerInfo names, checked to be an end entity.

    rfc3161-client checks its chain and time-stamping EKU but not that it is no CA; RFC 3161
    §2.3 keeps certificate-issuing keys apart from time-stamping keys, so a CA signer is refused.
    """
    signer = next(iter(response.signed_data.signer_infos))
    for der in response.signed_data.certificates:
        cert = x509.load_der_x509_certificate(der)
        if cert.issuer == signer.issuer and cert.serial_number == signer.serial_number:
            try:
                is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            if is_ca:
                raise TimestampError(
                    "the token is signed with a CA certificate, not a TSA's end-entity one"
                )
            return cert
    raise TimestampError("the token does not carry the certificate of its signer")


# A minimal DER reader, for the two things rfc3161-client does not do (below). Each element is
# (tag, start of its header, start of its value, end).
_Element = tuple[int, int, int, int]


def _element(der: bytes, pos: int) -> _Element:
    """The DER element at pos; ValueError if it is cut short."""
    if pos + 2 > len(der):
        raise ValueError("truncated")
    tag, length, start = der[pos], der[pos + 1], pos + 2
    if length & 0x80:
        size = length & 0x7F
        if not 1 <= size <= 4:
            raise ValueError("bad length")
        length, start = int.from_bytes(der[start : start + size], "big"), start + size
    if start + length > len(der):
        raise ValueError("truncated")
    return tag, pos, start, start + length


def _children(der: bytes, parent: _Element) -> list[_Element]:
    found: list[_Element] = []
    pos = parent[2]
    while pos < parent[3]:
        found.append(_element(der, pos))
        pos = found[-1][3]
    return found


def _signed_data_fields(der: bytes, at: int) -> list[_Element]:
    """The fields of the SignedData in the ContentInfo at offset at (IndexError, ValueError)."""
    content = _children(der, _element(der, at))[1]  # [0] EXPLICIT
    return _children(der, _children(der, content)[0])


def _sort_certificates(der: bytes, at: int) -> bytes:
    """der with the certificates of the token at offset at in DER order (a SET OF is sorted).

    ``openssl ts -reply`` writes the TSA's certificate, then its chain, unsorted, and
    rfc3161-client refuses such a set as non-DER. The set is outside what the TSA signs and
    sorting keeps its length, so it is sorted in place; der itself if there is nothing to sort.
    """
    try:
        fields = _signed_data_fields(der, at)
        certificates = next((f for f in fields[3:] if f[0] == 0xA0), None)  # [0] IMPLICIT
        if certificates is None:
            return der
        parts = [der[c[1] : c[3]] for c in _children(der, certificates)]
    except (ValueError, IndexError):
        return der
    if parts == sorted(parts):
        return der
    return der[: certificates[2]] + b"".join(sorted(parts)) + der[certificates[3] :]


def _normalized_reply(body: bytes) -> bytes:
    """A TimeStampResp with its token's certificates sorted (see _sort_certificates)."""
    try:
        fields = _children(body, _element(body, 0))
    except ValueError:
        return body
    return _sort_certificates(body, fields[1][1]) if len(fields) > 1 else body


def _gen_time_fraction_us(token: bytes) -> int | None:
    """The sub-second part of the token's genTime in µs, or None if it has none.

    rfc3161-client keeps genTime to whole seconds; a TSA that states milliseconds (as openssl
    ts does with ``clock_precision_digits``) has them read here from the TSTInfo DER itself:
    ContentInfo → [0] SignedData → encapContentInfo → [0] OCTET STRING → TSTInfo, whose fifth
    field is genTime. None as well if that path is not there (then whole seconds are kept).
    """
    try:
        encap = _signed_data_fields(token, 0)[2]
        octets = _children(token, _children(token, encap)[1])[0]  # [0] EXPLICIT OCTET STRING
        tst_info = _element(token, octets[2])
        gen_time = _children(token, tst_info)[4]
    except (ValueError, IndexError):
        return None
    if tst_info[0] != 0x30 or gen_time[0] != 0x18:  # SEQUENCE, GeneralizedTime
        return None
    _, dot, fraction = token[gen_time[2] : gen_time[3]].rstrip(b"Z").partition(b".")
    if not dot or not fraction.isdigit():
        return None
    return int(fraction[:6].ljust(6, b"0"))
