"""Shared fixtures: databases (SQLite and PostgreSQL), real RTSP cameras, the service."""

pytest_plugins = [
    "tests.conftest_db",
    "tests.cameras",
    "tests.harness",
    "tests.media",
    "tests.onvif_device",
]
