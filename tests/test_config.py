"""The TOML configuration: strict, bounded, secret-safe, and fully documented."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from index.receipts import ReceiptSettings
from surveil.config import (
    CameraConfig,
    Config,
    ConfigError,
    CounterConfig,
    ExportsConfig,
    IntegrityConfig,
    OnvifConfig,
    ReceiptsConfig,
    RecordingConfig,
    RetentionConfig,
    StorageConfig,
    TransferConfig,
    VolumeConfig,
    WebConfig,
    load_config,
    parse_config,
)

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DOC = ROOT / "docs" / "ref" / "config.md"

EXAMPLE = """\
# A service hall with two counters; the second camera is not recorded yet.
data_dir = "/var/lib/surveil"
database_url = "postgresql+asyncpg://surveil@127.0.0.1:5432/surveil"
log_level = "INFO"

[web]
listen = "0.0.0.0:8080"

[recording]
segment_seconds = 60
fragment_seconds = 1.0
fsync = "fragment"
fsync_interval_seconds = 1.0
rtsp_timeout_seconds = 5.0
reconnect_initial_seconds = 0.25
reconnect_max_seconds = 1.0

[[cameras]]
name = "hall1-a01"
url = "rtsp://recorder:s3cret@192.0.2.21:554/Streaming/Channels/101"
counters = ["A01"]

[[cameras]]
name = "hall1-a02"
url = "rtsp://192.0.2.22/stream1"
counters = ["A02", "A03"]
enabled = false
"""


def _error(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return str(info.value)


def _camera(**kw: Any) -> dict[str, Any]:
    return {"name": "a01", "url": "rtsp://192.0.2.1/s", **kw}


def test_example_parses(tmp_path: Path) -> None:
    path = tmp_path / "surveil.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    cfg = load_config(path)
    assert cfg.data_dir == Path("/var/lib/surveil")
    assert cfg.effective_database_url == "postgresql+asyncpg://surveil@127.0.0.1:5432/surveil"
    assert (cfg.web.host, cfg.web.port) == ("0.0.0.0", 8080)
    assert cfg.recording.segment_seconds == 60.0 and cfg.recording.fsync == "fragment"
    assert [c.name for c in cfg.cameras] == ["hall1-a01", "hall1-a02"]
    assert cfg.cameras[0].counters == ["A01"] and cfg.cameras[0].enabled
    assert cfg.cameras[1].counters == ["A02", "A03"] and not cfg.cameras[1].enabled


def test_defaults() -> None:
    cfg = parse_config({"data_dir": "/srv/x"})
    assert cfg.cameras == [] and cfg.log_level == "INFO"
    assert cfg.effective_database_url == "sqlite+aiosqlite:////srv/x/index.sqlite3"
    assert cfg.recording == RecordingConfig()
    assert cfg.web.listen == "127.0.0.1:8080"


def test_relative_data_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    path = conf_dir / "surveil.toml"
    path.write_text('data_dir = "../data"\n', encoding="utf-8")
    assert load_config(path).data_dir == (tmp_path / "data").resolve()


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"dta_dir": "/x"}, "dta_dir"),
        ({"web": {"listen": "127.0.0.1:1", "port": 8080}}, "web.port"),
        ({"recording": {"segment_secs": 10}}, "recording.segment_secs"),
        ({"cameras": [_camera(password="pw")]}, "cameras.0.password"),
        ({"cameras": [_camera(), _camera(name="a02", enable=False)]}, "cameras.1.enable"),
    ],
)
def test_unknown_keys_are_rejected_with_their_dotted_path(raw: dict[str, Any], key: str) -> None:
    msg = _error(raw)
    assert f"{key}: unknown key" in msg


def test_every_problem_is_reported_at_once() -> None:
    msg = _error(
        {
            "colour": "red",
            "recording": {"segment_seconds": 1, "fsync": "always"},
            "cameras": [_camera(name="Bad Name")],
        }
    )
    assert "4 problem(s)" in msg
    for key in ("colour", "recording.segment_seconds", "recording.fsync", "cameras.0.name"):
        assert f"\n  {key}: " in msg


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("segment_seconds", 1.99, False),
        ("segment_seconds", 2, True),
        ("segment_seconds", 3600, True),
        ("segment_seconds", 3600.5, False),
        ("segment_seconds", -60, False),
        ("fragment_seconds", 0.1, False),
        ("fragment_seconds", 0.2, True),
        ("fragment_seconds", 10.5, False),
        ("fsync_interval_seconds", -1, False),
        ("fsync_interval_seconds", 0, True),
        ("rtsp_timeout_seconds", 0.1, False),
        ("reconnect_max_seconds", 301, False),
        ("fsync", "segment", True),
        ("fsync", "never", False),
    ],
)
def test_recording_bounds(field: str, value: object, ok: bool) -> None:
    raw = {"recording": {field: value}}
    if ok:
        assert getattr(parse_config(raw).recording, field) == value
    else:
        assert f"recording.{field}: " in _error(raw)


def test_fragment_may_not_be_longer_than_a_segment() -> None:
    assert "fragment_seconds" in _error(
        {"recording": {"segment_seconds": 2, "fragment_seconds": 5}}
    )
    parse_config({"recording": {"segment_seconds": 2, "fragment_seconds": 2}})


@pytest.mark.parametrize(
    "name", ["Hall-A01", "-a01", "_a01", "", "a" * 64, "a/b", "a b", "a.b", "..", "大厅"]
)
def test_bad_camera_names(name: str) -> None:
    assert "cameras.0.name: " in _error({"cameras": [_camera(name=name)]})


@pytest.mark.parametrize("name", ["a", "0", "hall1-a01", "x_1", "a" * 63])
def test_good_camera_names(name: str) -> None:
    assert parse_config({"cameras": [_camera(name=name)]}).cameras[0].name == name


def test_duplicate_camera_names() -> None:
    msg = _error({"cameras": [_camera(), _camera(url="rtsp://192.0.2.9/s")]})
    assert "'a01' is used twice" in msg


def test_counters_and_receipts_sections() -> None:
    cfg = parse_config(
        {
            "counters": [
                {"code": "A01", "name": "Window 1", "site": "Hall 1"},
                {"code": "A02", "name": "Window 2"},
            ],
            "receipts": {"pre_roll_seconds": 10, "open_hold_max_hours": 2},
            # A03 is not listed under [[counters]]: allowed, created code-only.
            "cameras": [_camera(counters=["A01", "A03"])],
        }
    )
    assert [c.code for c in cfg.counters] == ["A01", "A02"]
    assert cfg.counters[1].site is None
    settings = cfg.receipts.settings()
    assert settings.pre_roll_us == 10_000_000
    assert settings.post_roll_us == 30_000_000
    assert settings.max_future_us == 300_000_000
    assert settings.max_duration_us == 12 * 3600_000_000
    assert settings.open_hold_max_us == 2 * 3600_000_000
    assert parse_config({}).receipts.settings() == ReceiptSettings()


def test_counter_config_errors() -> None:
    assert "counters.0.code" in _error({"counters": [{"code": "A 1", "name": "x"}]})
    assert "counters.0.name" in _error({"counters": [{"code": "A1", "name": ""}]})
    assert "counters.0.name" in _error({"counters": [{"code": "A1"}]})
    assert "counters.0.colour: unknown key" in _error(
        {"counters": [{"code": "A1", "name": "x", "colour": "red"}]}
    )
    dup = _error({"counters": [{"code": "A1", "name": "x"}, {"code": "A1", "name": "y"}]})
    assert "counter code 'A1' is used twice" in dup


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pre_roll_seconds", -1),
        ("post_roll_seconds", 3601),
        ("max_future_seconds", 86401),
        ("max_duration_hours", 0),
        ("open_hold_max_hours", 169),
        ("lookback", 1),
    ],
)
def test_receipts_bounds(field: str, value: object) -> None:
    assert f"receipts.{field}" in _error({"receipts": {field: value}})


@pytest.mark.parametrize("code", ["", "A 01", "A/1", "x" * 33, "-A"])
def test_bad_counter_codes(code: str) -> None:
    assert "cameras.0.counters" in _error({"cameras": [_camera(counters=["A01", code])]})


@pytest.mark.parametrize(
    "url",
    [
        "http://u:secretpw@h/",
        "rtsp:/u:secretpw@h/s",  # a slash missing
        "rtsp//u:secretpw@h/s",
        "u:secretpw@h",
        "http://u:se/secretpw@h/",  # '/' in the password
        "http://u:p@secretpw@h/",  # '@' in the password
        "ftp://u:secret pw@h/",
    ],
)
def test_errors_never_show_a_camera_password(url: str, tmp_path: Path) -> None:
    msg = _error({"cameras": [_camera(url=url)]})
    assert "cameras.0.url" in msg
    assert "secret" not in msg
    # and the same through a file, as `surveil serve` reads it
    path = tmp_path / "c.toml"
    path.write_text(f'[[cameras]]\nname = "a01"\nurl = "{url}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "secret" not in str(info.value)


def test_errors_about_other_fields_do_not_show_the_url() -> None:
    msg = _error({"cameras": [_camera(name="BAD", url="rtsp://u:secretpw@h/s", counters="A01")]})
    assert "cameras.0.name" in msg and "cameras.0.counters" in msg
    assert "secretpw" not in msg


def test_database_url_password_not_shown() -> None:
    msg = _error({"database_url": "mysql://u:secretpw@h/db"})
    assert "database_url: " in msg and "secretpw" not in msg


@pytest.mark.parametrize(
    ("listen", "ok"),
    [
        ("127.0.0.1:8080", True),
        ("[::1]:0", True),
        ("0.0.0.0:65535", True),
        ("localhost", False),
        (":8080", False),
        ("127.0.0.1:65536", False),
        ("127.0.0.1:http", False),
    ],
)
def test_listen(listen: str, ok: bool) -> None:
    raw = {"web": {"listen": listen}}
    if ok:
        assert parse_config(raw).web.listen == listen
    else:
        assert "web.listen: " in _error(raw)


def test_ipv6_listen_host() -> None:
    web = parse_config({"web": {"listen": "[::1]:9000"}}).web
    assert (web.host, web.port) == ("::1", 9000)


def test_bad_database_url_and_log_level() -> None:
    msg = _error({"database_url": "sqlite:///x.db", "log_level": "TRACE"})
    assert "database_url: " in msg and "log_level: " in msg


def test_missing_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[recording\nsegment_seconds = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(binary)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)  # a directory


def test_config_is_immutable() -> None:
    cfg = parse_config({})
    with pytest.raises(Exception, match="frozen"):
        cfg.recording.segment_seconds = 5  # type: ignore[misc]


# -- every field documented ---------------------------------------------------


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """model and every model nested in its fields (lists and optionals included)."""
    found = [model]
    for field in model.model_fields.values():
        for t in _types(field.annotation):
            if isinstance(t, type) and issubclass(t, BaseModel) and t not in found:
                found += [m for m in _models(t) if m not in found]
    return found


def _types(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", None)
    if not args:
        return [annotation]
    out: list[Any] = []
    for a in args:
        out += _types(a)
    return out


def test_models_walk_finds_every_model() -> None:
    assert set(_models(Config)) == {
        Config,
        WebConfig,
        RecordingConfig,
        CameraConfig,
        CounterConfig,
        ReceiptsConfig,
        OnvifConfig,
        IntegrityConfig,
        StorageConfig,
        VolumeConfig,
        RetentionConfig,
        TransferConfig,
        ExportsConfig,
    }


def _doc_sections() -> dict[str, str]:
    text = CONFIG_DOC.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.M)
    return {p.splitlines()[0]: p for p in parts[1:]}


def test_every_config_field_is_documented() -> None:
    assert CONFIG_DOC.is_file(), f"{CONFIG_DOC.relative_to(ROOT)} is missing"
    sections = _doc_sections()
    missing = []
    for model in _models(Config):
        section = next((body for head, body in sections.items() if model.__name__ in head), None)
        if section is None:
            missing.append(f"a section for {model.__name__}")
            continue
        for name in model.model_fields:
            if not re.search(rf"^\|\s*`{re.escape(name)}`\s*\|", section, flags=re.M):
                missing.append(f"{model.__name__}.{name}")
    assert not missing, f"undocumented in {CONFIG_DOC.relative_to(ROOT)}: {missing}"


def test_documented_fields_exist() -> None:
    """The reference does not describe settings the code does not have."""
    sections = _doc_sections()
    stale = []
    for model in _models(Config):
        section = next((body for head, body in sections.items() if model.__name__ in head), "")
        for name in re.findall(r"^\|\s*`(\w+)`\s*\|", section, flags=re.M):
            if name not in model.model_fields:
                stale.append(f"{model.__name__}.{name}")
    assert not stale, f"documented but not in surveil/config.py: {stale}"


def test_every_field_has_a_description_and_numbers_have_bounds() -> None:
    for model in _models(Config):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            if field.annotation in (int, float):
                kinds = {type(m).__name__ for m in field.metadata}
                assert {"Ge", "Le"} <= kinds, f"{model.__name__}.{name} is unbounded"


def test_examples_in_the_reference_parse() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", CONFIG_DOC.read_text(encoding="utf-8"), re.S)
    assert blocks
    for block in blocks:
        parse_config(tomllib.loads(block))
