"""The text rule of every string the index stores, whatever the entry point.

No string may contain a NUL or a lone surrogate; a field that is one line of text (names,
codes, a receipt's case number, service and handler, a camera's user name) also refuses
control characters. The index functions that store such fields apply it, so the CSV import,
the CLI and the services get the same rule as the web; web/params.py applies
:func:`text_problem` to every request as well, only to answer with a 400 naming the field.
"""

from __future__ import annotations

from cameras.urls import is_control
from index.errors import InvalidRecord


def text_problem(value: str, *, one_line: bool = False) -> str | None:
    """What makes value unacceptable as stored text, or None; one_line: it is a name or a
    one-line field, so control characters (newline, tab, escape...) are refused too.

    A lone surrogate (JSON allows the escape "\\ud800") is not Unicode: no database driver
    can encode it. NUL ends strings in C: PostgreSQL refuses it while SQLite would store it,
    so the backends would disagree; it is refused in every string, not just names.
    """
    if "\x00" in value:
        return "contains a NUL character (U+0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (U+D800-U+DFFF), which is not valid Unicode"
    if one_line and any(is_control(c) for c in value):
        return "contains a control character (newline, tab, escape...); it must be one line"
    return None


def check_text(value: str | None, what: str, *, one_line: bool = True) -> None:
    """InvalidRecord naming `what` (never quoting the value) if value breaks the text rule;
    None passes (an absent optional field)."""
    if value is None:
        return
    problem = text_problem(value, one_line=one_line)
    if problem is not None:
        raise InvalidRecord(f"{what} {problem}")
