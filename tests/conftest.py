"""Shared fixtures: databases (SQLite and PostgreSQL), real RTSP cameras, the service."""

from collections.abc import Iterator

import pytest

from tests import conformance

pytest_plugins = [
    "tests.conftest_db",
    "tests.cameras",
    "tests.harness",
    "tests.media",
    "tests.onvif_device",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", conformance.MARKER_HELP)


@pytest.fixture(autouse=True, scope="session")
def _api_conformance() -> Iterator[None]:
    """Every API response any test receives is checked against the OpenAPI document."""
    with conformance.installed():
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    with conformance.current_test(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    """Fail a test whose responses broke the document even if it caught the error."""
    result = yield
    message = conformance.swallowed()
    if message is not None:
        pytest.fail(message, pytrace=False)
    return result
