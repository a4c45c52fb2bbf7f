"""Damaged recovery records: set aside (renamed, not deleted) at start, the editor opens, the status bar says so."""

from __future__ import annotations

import json
import shutil

import pytest

from studio.ui import open_main_window
from studio.ui.files import Unsaved
from studio.ui.recovery import DAMAGED, find_recoverable, recovery_dir
from tests.ui.helpers import EXAMPLES

DIGITS = EXAMPLES / "digits_cnn.lstudio"

DAMAGED_RECORDS = {
    "huge time": b'{"original": null, "saved_at": 1e308}',
    "nan time": b'{"original": null, "saved_at": NaN}',
    "infinite time": b'{"original": null, "saved_at": -Infinity}',
    "text time": b'{"original": null, "saved_at": "yesterday"}',
    "boolean time": b'{"original": null, "saved_at": true}',
    "no time": b'{"original": null}',
    "number path": b'{"original": 5, "saved_at": 1.0}',
    "nul in path": b'{"original": "a\\u0000b", "saved_at": 1.0}',
    "a list": b'[1, 2]',
    "not json": b'{"original": ',
    "not utf-8": b'\xff\xfe{"saved_at": 1}',
}


@pytest.fixture
def window(qtbot):
    win = open_main_window(None)
    qtbot.addWidget(win)
    win.files.ask_unsaved = lambda: Unsaved.DISCARD
    yield win
    win.files.close()


def leave_copy(stem: str, record: bytes) -> tuple[bytes, bytes]:
    """A crashed editor's recovery copy and its record, as files in the recovery folder; their bytes."""
    folder = recovery_dir()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DIGITS, folder / f"{stem}.lstudio")
    (folder / f"{stem}.json").write_bytes(record)
    return (folder / f"{stem}.lstudio").read_bytes(), record


@pytest.mark.parametrize("record", DAMAGED_RECORDS.values(), ids=DAMAGED_RECORDS.keys())
def test_a_damaged_record_is_set_aside_and_the_editor_starts(window, record: bytes) -> None:
    copy_bytes, record_bytes = leave_copy("999999-1", record)
    window.files.ask_recover = lambda item: pytest.fail(f"asked to recover from a damaged record: {item}")
    assert window.files.offer_recovery() is False
    folder = recovery_dir()
    assert (folder / f"999999-1.json{DAMAGED}").read_bytes() == record_bytes
    assert (folder / f"999999-1.lstudio{DAMAGED}").read_bytes() == copy_bytes
    assert not (folder / "999999-1.json").exists() and not (folder / "999999-1.lstudio").exists()
    message = window.statusBar().currentMessage()
    assert "damaged recovery record" in message and f"999999-1.json{DAMAGED}" in message
    assert find_recoverable() == []  # set aside once: the next start is quiet
    assert window.files.offer_recovery() is False


def test_a_good_record_beside_a_damaged_one_is_still_offered(window) -> None:
    leave_copy("999999-1", DAMAGED_RECORDS["nan time"])
    leave_copy("999999-2", json.dumps({"original": str(DIGITS), "saved_at": 1.7e9}).encode())
    asked = []
    window.files.ask_recover = lambda item: asked.append(item.describe()) or True
    assert window.files.offer_recovery() is True
    assert len(asked) == 1 and str(DIGITS) in asked[0]
    assert window.document.path == DIGITS and window.document.is_modified
    assert (recovery_dir() / f"999999-1.json{DAMAGED}").is_file()


def test_setting_aside_never_overwrites_an_earlier_damaged_record(window) -> None:
    leave_copy("999999-1", DAMAGED_RECORDS["huge time"])
    window.files.offer_recovery()
    leave_copy("999999-1", DAMAGED_RECORDS["a list"])
    window.files.offer_recovery()
    folder = recovery_dir()
    assert (folder / f"999999-1.json{DAMAGED}").read_bytes() == DAMAGED_RECORDS["huge time"]
    assert (folder / f"999999-1.json{DAMAGED}2").read_bytes() == DAMAGED_RECORDS["a list"]


def test_a_copy_that_cannot_be_opened_is_set_aside_not_deleted(window) -> None:
    leave_copy("999999-1", json.dumps({"original": None, "saved_at": 1.7e9}).encode())
    copy = recovery_dir() / "999999-1.lstudio"
    copy.write_text('{"format": 2, "graph": 7}', encoding="utf-8")
    errors = []
    window.files.ask_recover = lambda item: True
    window.files.show_error = lambda title, message: errors.append(message)
    assert window.files.offer_recovery() is False
    kept = recovery_dir() / f"999999-1.lstudio{DAMAGED}"
    assert kept.read_text(encoding="utf-8") == '{"format": 2, "graph": 7}'
    assert len(errors) == 1 and str(kept) in errors[0]
    assert find_recoverable() == []
