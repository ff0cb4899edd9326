"""The one error table (web/errors.py): every domain error's status and code; input times."""

from __future__ import annotations

import pytest

from cameras.credentials import CredentialError
from cameras.onvif import (
    OnvifAuthError,
    OnvifError,
    OnvifNotSupported,
    OnvifTimeout,
    OnvifUnreachable,
)
from cameras.snapshot import SnapshotError
from cameras.source import (
    CameraDisconnected,
    CameraNotRtsp,
    CameraRejected,
    CameraTimeout,
    CameraUnreachable,
)
from index.cameras import ConfigManaged
from index.errors import (
    CameraNotFound,
    Conflict,
    CounterNotFound,
    InvalidRecord,
    ReceiptNotFound,
    SegmentNotFound,
)
from index.tokens import TokenNotFound
from index.users import UserNotFound
from surveil.access_log import AuditUnavailable
from surveil.accounts import AccountRuleBroken, LastAdmin, SelfDisable
from surveil.passwords import PasswordRejected
from surveil.serving import ClipUnavailable, NoFootage, SegmentDamaged, SegmentGone, SegmentOpen
from surveil.timefmt import iso_from_us, us_from_iso
from web.errors import ERROR_STATUS, code_of, status_of


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        (CameraNotFound, 404, "camera_not_found"),
        (SegmentNotFound, 404, "segment_not_found"),
        (CounterNotFound, 404, "counter_not_found"),
        (ReceiptNotFound, 404, "receipt_not_found"),
        (UserNotFound, 404, "user_not_found"),
        (TokenNotFound, 404, "token_not_found"),
        (NoFootage, 404, "no_footage"),
        (Conflict, 409, "conflict"),
        (ConfigManaged, 409, "conflict"),
        (AccountRuleBroken, 409, "conflict"),
        (SelfDisable, 409, "self_disable"),
        (LastAdmin, 409, "last_admin"),
        (CredentialError, 409, "credentials_unreadable"),
        (SegmentOpen, 409, "segment_open"),
        (SegmentDamaged, 409, "segment_damaged"),
        (ClipUnavailable, 409, "clip_unavailable"),
        (SegmentGone, 410, "segment_gone"),
        (InvalidRecord, 422, "invalid_value"),
        (PasswordRejected, 422, "password_rejected"),
        (OnvifAuthError, 422, "onvif_auth_failed"),
        (OnvifNotSupported, 422, "not_onvif"),
        (OnvifError, 502, "onvif_error"),
        (OnvifUnreachable, 502, "camera_unreachable"),
        (CameraUnreachable, 502, "camera_unreachable"),
        (CameraRejected, 502, "camera_rejected"),
        (CameraNotRtsp, 502, "camera_rejected"),
        (CameraDisconnected, 502, "camera_error"),
        (SnapshotError, 502, "camera_error"),
        # A timeout is 504 whichever family it is in (MRO: OnvifUnreachable, OnvifError,
        # CameraTimeout, ...): OnvifError must not be in the table, or it would win.
        (CameraTimeout, 504, "camera_unreachable"),
        (OnvifTimeout, 504, "camera_unreachable"),
        (AuditUnavailable, 503, "audit_unavailable"),
    ],
)
def test_status_and_code_of_each_domain_error(
    kind: type[Exception], status: int, code: str
) -> None:
    assert status_of(kind) == status
    assert code_of(kind) == code


def test_every_listed_class_names_its_own_code() -> None:
    # A code inherited from a parent would silently answer with the parent's meaning.
    for kind in ERROR_STATUS:
        assert "code" in vars(kind), f"{kind.__name__} must set code itself"


def test_an_error_outside_the_table_has_no_status() -> None:
    assert status_of(RuntimeError) is None


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-11-26t20:41:00z", "2026-11-26T20:41:00.000000+00:00"),
        ("2026-11-26T20:41:00.5Z", "2026-11-26T20:41:00.500000+00:00"),
        # A leap second is the last microsecond of second 59: the index has no 61st second.
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999+00:00"),
        ("2016-12-31T23:59:60.5+00:00", "2016-12-31T23:59:59.999999+00:00"),
        ("2026-11-26T20:41:00+08:00", "2026-11-26T12:41:00.000000+00:00"),
    ],
)
def test_input_times_are_all_of_rfc_3339(text: str, iso: str) -> None:
    assert iso_from_us(us_from_iso(text)) == iso


@pytest.mark.parametrize("text", ["2026-11-26T20:41:00", "2026-11-26T24:00:61Z", "yesterday"])
def test_times_without_offset_or_out_of_range_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        us_from_iso(text)
