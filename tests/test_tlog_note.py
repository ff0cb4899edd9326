"""C2SP signed notes and checkpoints (tlog/note.py), against Go's reference example."""

from __future__ import annotations

import base64

import pytest

from tlog.note import Checkpoint, NoteError, Signer, open_note, parse_verifier, sign

# The example of golang.org/x/mod/sumdb/note (and c2sp.org/signed-note): Ed25519 signing
# is deterministic, so our signature must be this one byte for byte.
VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
    "vqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_keys_ids_and_signature_match_the_reference_byte_for_byte() -> None:
    signer = Signer.parse(SKEY)
    assert signer.line() == SKEY
    assert signer.verifier().line() == VKEY
    assert parse_verifier(VKEY) == signer.verifier()
    assert sign(TEXT, [signer]) == TEXT + "\n" + SIG
    opened = open_note(TEXT + "\n" + SIG, [parse_verifier(VKEY)])
    assert opened.text == TEXT and opened.verified == ("PeterNeumann",)


def test_a_changed_text_or_signature_is_refused() -> None:
    verifier = parse_verifier(VKEY)
    with pytest.raises(NoteError, match="does not verify"):
        open_note(TEXT.replace("cryptography", "cryptographY") + "\n" + SIG, [verifier])
    blob = bytearray(base64.b64decode(SIG.split()[2]))
    blob[-1] ^= 1
    flipped = f"\u2014 PeterNeumann {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(NoteError, match="does not verify"):
        open_note(TEXT + "\n" + flipped, [verifier])


def test_only_a_known_key_counts() -> None:
    other = Signer.generate("PeterNeumann")  # same name, another key: another key id
    note = sign(TEXT, [other])
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_note(note, [parse_verifier(VKEY)])
    # An unknown witness's signature beside a known one is skipped, not an error.
    both = sign(TEXT, [Signer.parse(SKEY), Signer.generate("witness.example")])
    assert open_note(both, [parse_verifier(VKEY)]).verified == ("PeterNeumann",)


@pytest.mark.parametrize(
    "line",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not Ed25519
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # a space
        "PeterNeumann+c74f20a3+not-base64",
    ],
)
def test_malformed_verifier_keys_are_refused(line: str) -> None:
    with pytest.raises(NoteError):
        parse_verifier(line)


def test_malformed_notes_are_refused() -> None:
    verifier = parse_verifier(VKEY)
    for note in (
        TEXT + SIG,  # no blank line
        TEXT + "\n" + SIG.rstrip("\n"),  # no final newline
        TEXT + "\n" + SIG.replace("\u2014", "-"),  # an ASCII dash
        "a\n\nb\n\n" + SIG,  # a blank line inside the text
    ):
        with pytest.raises(NoteError):
            open_note(note, [verifier])


def test_a_checkpoint_round_trips_and_its_format_is_enforced() -> None:
    cp = Checkpoint("surveil/test-log", 12, bytes(range(32)), ("extra line",))
    assert cp.text() == (
        "surveil/test-log\n12\n" + base64.b64encode(bytes(range(32))).decode() + "\nextra line\n"
    )
    assert Checkpoint.parse(cp.text()) == cp
    signer = Signer.generate("surveil-test")
    opened = open_note(sign(cp.text(), [signer]), [signer.verifier()])
    assert Checkpoint.parse(opened.text) == cp
    root = base64.b64encode(bytes(32)).decode()
    for text in ("o\n012\n" + root + "\n", "o\n-1\n" + root + "\n", "o\n1\nAAAA\n", "o\n1\n"):
        with pytest.raises(NoteError):
            Checkpoint.parse(text)
