"""Camera stream URLs: what makes one valid, and where its credentials are.

Credentials come in two places: the userinfo (``rtsp://user:password@host/...``) and, for
several camera brands, secret query parameters (``rtsp://host/s?user=admin&password=...``;
the names in :data:`SECRET_QUERY_PARAMS`, case-insensitive). :func:`redact_url` hides both
in anything a person or a log can see. A URL that is stored carries ``***`` in place of
each secret query value (:func:`split_query_secrets`); :func:`fill_query_secrets` puts the
camera's password back in memory, on its way to PyAV.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import quote, unquote, urlsplit

# userinfo in any scheme://user:pass@host URL, wherever it appears in a string
# (FFmpeg error text, exception messages, pydantic messages).
_USERINFO_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s'\"]*)@")
# One query parameter, wherever it appears in a string; its name is checked decoded, so
# 'p%61ssword' is found too.
_QUERY_PARAM_RE = re.compile(r"(?P<lead>[?&])(?P<name>[^=&#?\s'\"<>]+)=(?P<value>[^&#\s'\"<>]*)")

REDACTED: Final = "***"
# Query parameters whose value is a secret (case-insensitive, after percent-decoding).
SECRET_QUERY_PARAMS: Final = frozenset({"password", "pwd", "passwd", "pass", "token"})
# Characters left as they are when a password is put back into a query value: what RFC
# 3986 allows there, but '&', '#', '%', '=' and ';' (separators some cameras split on).
_QUERY_SAFE: Final = "!$'()*+,:@/?"

_LABEL_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_NUMERIC_HOST_RE = re.compile(r"[0-9.]+")
_PORT_RE = re.compile(r"[0-9]{1,5}")
_ZONE_RE = re.compile(r"[A-Za-z0-9._~-]+")


def is_secret_param(name: str) -> bool:
    """Whether a query parameter of this (raw or percent-encoded) name carries a secret."""
    return unquote(name).lower() in SECRET_QUERY_PARAMS


def _redact_param(m: re.Match[str]) -> str:
    if not is_secret_param(m.group("name")):
        return m.group(0)
    return f"{m.group('lead')}{m.group('name')}={REDACTED}"


def redact_url(text: str) -> str:
    """Replace the user:password part of every URL in text, and the value of every secret
    query parameter (password=, pwd=, passwd=, pass=, token=), with ***."""
    out = _USERINFO_RE.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    return _QUERY_PARAM_RE.sub(_redact_param, out)


def is_control(c: str) -> bool:
    """Whether c is a control character: C0 (NUL to U+001F, newline and tab included), DEL
    or C1 (U+0080-U+009F).

    The one control-character rule of surveil: camera URLs, log lines and the index's text
    rule (index/text.py) all use it. It lives here, the lowest module of the two packages,
    because index/ imports cameras/ (this module) and cameras/ must not import index/ back.
    """
    return ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F


def escape_controls(text: str, keep: str = "\n\t") -> str:
    """text with control characters other than those in keep (newline and tab) shown as
    escapes (\\x07, \\x1b): a log line must not ring, recolour or rewrite the terminal it
    is read on."""
    if not any(is_control(c) and c not in keep for c in text):
        return text
    return "".join(
        c.encode("unicode_escape").decode("ascii") if is_control(c) and c not in keep else c
        for c in text
    )


def url_secrets(url: str) -> list[str]:
    """The secret strings in a URL (userinfo password and secret query values, raw and
    percent-decoded), for scrubbing."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    raw: list[str] = []
    if password:
        raw.append(password)
    for piece in parts.query.split("&"):
        name, eq, value = piece.partition("=")
        if eq and value and value != REDACTED and is_secret_param(name):
            raw.append(value)
    secrets: list[str] = []
    for secret in raw:
        for form in (secret, unquote(secret)):
            if form and form not in secrets:
                secrets.append(form)
    return secrets


def scrub(text: str, secrets: list[str]) -> str:
    """Redact URLs and any literal occurrence of the given secrets."""
    out = redact_url(text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, REDACTED)
    return out


# -- what a valid camera URL is ------------------------------------------------------------


# What valid_host accepts, for messages.
HOST_RULE: Final = "a DNS name, an IPv4 address or a bracketed [IPv6] address"


def valid_host(host: str) -> bool:
    """A DNS name (letters, digits, '-', '_' in dot-separated labels), an IPv4 address or a
    bracketed IPv6 address: the host of a camera URL, and the ONVIF host (which goes into
    the device's SOAP URLs). No port, path, space or control character gets through."""
    if host.startswith("["):
        if not host.endswith("]"):
            return False
        inner = host[1:-1].replace("%25", "%")  # a zone id is percent-encoded in a URL
        # ipaddress takes any zone id ('%a b', '%a?b'); RFC 6874 allows unreserved only.
        _, pct, zone = inner.partition("%")
        if pct and not _ZONE_RE.fullmatch(zone):
            return False
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            return False
        return True
    if _NUMERIC_HOST_RE.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    name = host.removesuffix(".")
    return 0 < len(name) <= 253 and all(_LABEL_RE.fullmatch(label) for label in name.split("."))


def check_stream_url(url: str) -> None:
    """ValueError unless url is scheme://[userinfo@]host[:port][/path][?query] with a valid
    host, a port 1-65535 if any, and no control characters, nor spaces outside the userinfo.

    The message never quotes the URL: a malformed one is where redaction cannot find the
    password, and it may hold control characters that would garble a log.
    """
    if any(is_control(c) for c in url):
        raise ValueError("camera url contains a control character")
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        raise ValueError("camera url must be scheme://host[:port]/path")
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    hostport = netloc.rpartition("@")[2]
    if any(c.isspace() for c in hostport + tail):
        raise ValueError("camera url contains a space; percent-encode it (%20)")
    # An '@' after the host part means a password with a raw '/', '?' or '#' ended it early.
    hint = "; percent-encode '/', '?', '#' and '@' in a password" if "@" in tail else ""
    if hostport.startswith("["):
        host, bracket, port = hostport.partition("]")
        host += bracket
        if port and not port.startswith(":"):
            raise ValueError(f"camera url host is not a valid [IPv6] address{hint}")
        port = port[1:]
    else:
        host, _, port = hostport.partition(":")
        if ":" in port:
            raise ValueError(f"camera url host is an IPv6 address without [brackets]{hint}")
    if not host:
        raise ValueError(f"camera url has no host{hint}")
    if not valid_host(host):
        raise ValueError(f"camera url host is not a valid host name, IPv4 or [IPv6] address{hint}")
    if port and (not _PORT_RE.fullmatch(port) or not 1 <= int(port) <= 65535):
        raise ValueError(f"camera url port must be a number 1-65535{hint}")


# -- secrets in the query string -----------------------------------------------------------


def split_query_secrets(query: str) -> tuple[str, list[str], bool]:
    """(query with *** for each secret value, the secret values percent-decoded, whether a
    *** placeholder was there already). Other parameters are kept byte for byte."""
    if not query:
        return query, [], False
    pieces: list[str] = []
    secrets: list[str] = []
    placeholder = False
    for piece in query.split("&"):
        name, eq, value = piece.partition("=")
        if eq and value and is_secret_param(name):
            # The decoded name, so that redaction finds it in whatever quotes the URL.
            pieces.append(f"{unquote(name)}={REDACTED}")
            if value == REDACTED:
                placeholder = True
            else:
                secrets.append(unquote(value))
        else:
            pieces.append(piece)
    return "&".join(pieces), secrets, placeholder


def has_query_placeholder(url: str) -> bool:
    """Whether url has *** in place of a secret query value (the camera's password goes there)."""
    return split_query_secrets(urlsplit(url).query)[2]


def fill_query_secrets(url: str, password: str) -> str:
    """url with each *** placeholder of a secret query parameter replaced by password.
    Never log the result."""
    base, sep, rest = url.partition("?")
    if not sep:
        return url
    query, hash_, fragment = rest.partition("#")
    value = quote(password, safe=_QUERY_SAFE)
    pieces = []
    for piece in query.split("&"):
        name, eq, old = piece.partition("=")
        filled = eq and old == REDACTED and is_secret_param(name)
        pieces.append(f"{name}={value}" if filled else piece)
    return f"{base}?{'&'.join(pieces)}{hash_}{fragment}"


def with_userinfo(url: str, username: str, password: str) -> str:
    """url with percent-encoded ``username:password@`` userinfo. Never log the result."""
    scheme, sep, rest = url.partition("://")
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    hostport = rest[:end].rpartition("@")[2]
    userinfo = f"{quote(username, safe='')}:{quote(password, safe='')}"
    return f"{scheme}{sep}{userinfo}@{hostport}{rest[end:]}"
