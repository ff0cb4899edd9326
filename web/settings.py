"""Web settings (sessions, login limit, time zone), resolved from the configuration."""

from __future__ import annotations

from dataclasses import dataclass

MINUTE_US = 60_000_000


@dataclass(frozen=True)
class WebSettings:
    """Session lifetimes, the login rate limit and the time zone pages use."""

    session_idle_us: int = 30 * MINUTE_US
    session_max_us: int = 12 * 60 * MINUTE_US
    login_max_failures: int = 5
    login_window_us: int = 15 * MINUTE_US
    # Set when the UI is served over HTTPS (directly or behind a TLS proxy).
    secure_cookies: bool = False
    timezone: str = "Asia/Shanghai"
