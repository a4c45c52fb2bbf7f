"""Where the editor keeps its settings and crash-recovery copies of unsaved projects.

Each open window autosaves its unsaved project to `<home>/recovery/<pid>-<n>.lstudio` with a small
JSON record beside it (the project's own path and the time) and holds a `QLockFile` on it while it
runs; the weights of a model imported but not yet saved wait beside them as `<pid>-<n>.weights.npz`
(the project's `training.weights` points there until it is saved). A clean close removes them all. A copy whose lock can be taken was left by an editor that
crashed (Qt recognises a lock whose process is gone) and is offered back at start. A record that
cannot be read (damaged fields, not JSON) is set aside with its copy: both renamed with `.damaged`
added, never deleted, so the editor starts and the work can still be looked at.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from PySide6.QtCore import QLockFile, QSettings, QStandardPaths

from studio.graph.atomic import write_atomically
from studio.graph.project import Project, ProjectFileError, dumps_project, load_project
from studio.graph.regular_files import read_regular

HOME_ENV = (
    "LAYER_STUDIO_HOME"  # overrides the settings folder (tests, portable installs)
)
MAX_RECORD_BYTES = 2**20  # a record is a few hundred bytes: a larger file is not ours
DAMAGED = ".damaged"  # added to the names of a recovery record that cannot be read, and of its copy
_serial = count(1)


def home_dir() -> Path:
    """The folder for settings and recovery files."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override)
    location = QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.AppConfigLocation
    )
    return Path(location or Path.home() / ".layer-studio")


def settings() -> QSettings:
    """The editor's settings (window layout, recent files, theme), as an INI file in `home_dir()`."""
    return QSettings(str(home_dir() / "settings.ini"), QSettings.Format.IniFormat)


def recovery_dir() -> Path:
    """The folder of autosaved copies."""
    return home_dir() / "recovery"


@dataclass(frozen=True)
class Recoverable:
    """An autosaved copy left behind by an editor that did not close cleanly."""

    copy: Path
    original: Path | None
    saved_at: float

    def describe(self) -> str:
        """One line for the recovery prompt."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        return f"{self.original or 'an unsaved project'} (autosaved {when})"


class Autosaver:
    """Keeps one window's recovery copy: `save` writes it, `discard` removes it."""

    def __init__(self) -> None:
        self.copy = recovery_dir() / f"{os.getpid()}-{next(_serial)}.lstudio"
        self._lock: QLockFile | None = None

    @property
    def record(self) -> Path:
        return self.copy.with_suffix(".json")

    @property
    def weights(self) -> Path:
        """Where the weights of an unsaved import wait until the project is saved."""
        return _weights_of(self.copy)

    def save(self, project: Project, original: Path | None) -> None:
        """Write the recovery copy (atomically); failures are ignored: autosave must never interrupt."""
        try:
            self.copy.parent.mkdir(parents=True, exist_ok=True)
            if self._lock is None:
                self._lock = QLockFile(str(self.copy.with_suffix(".lock")))
                self._lock.setStaleLockTime(0)
                self._lock.tryLock(0)
            write_atomically(self.copy, dumps_project(project).encode("utf-8"))
            meta = {
                "original": str(original) if original else None,
                "saved_at": time.time(),
            }
            write_atomically(self.record, json.dumps(meta).encode("utf-8"))
        except (OSError, ValueError, ProjectFileError):
            pass

    def discard(self) -> None:
        """Remove the recovery copy and waiting weights (after a save, or a clean close)."""
        for path in (self.copy, self.record, self.weights):
            path.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None


class DamagedRecord(ValueError):
    """A recovery record whose content is not what an autosave writes."""


@dataclass(frozen=True)
class RecoveryScan:
    """What the recovery folder holds: copies to offer back, and damaged records just set aside (their new names)."""

    recoverable: list[Recoverable]
    set_aside: list[Path]


def scan_recovery() -> RecoveryScan:
    """Recovery copies whose editor process is no longer running, newest first; damaged records are set aside."""
    found: list[Recoverable] = []
    aside: list[Path] = []
    folder = recovery_dir()
    if not folder.is_dir():
        return RecoveryScan([], [])
    for record in folder.glob("*.json"):
        copy = record.with_suffix(".lstudio")
        try:
            original, saved_at = read_record(record)
        except OSError:
            continue
        except DamagedRecord:
            if not copy.is_file() or _abandoned(copy):
                aside += _set_aside(record, copy)
            continue
        if copy.is_file() and _abandoned(copy):
            found.append(Recoverable(copy, original, saved_at))
    return RecoveryScan(sorted(found, key=lambda r: r.saved_at, reverse=True), aside)


def find_recoverable() -> list[Recoverable]:
    """Recovery copies whose editor process is no longer running, newest first (`scan_recovery`)."""
    return scan_recovery().recoverable


def read_record(record: Path) -> tuple[Path | None, float]:
    """The original path and autosave time a recovery record holds; DamagedRecord says what is wrong with it."""
    text = read_regular(record, MAX_RECORD_BYTES)  # a FIFO or a huge file planted here is an OSError: skipped, never read
    try:
        meta = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise DamagedRecord(f"{record.name} is not JSON ({err})") from None
    if not isinstance(meta, dict):
        raise DamagedRecord(f"{record.name} holds {type(meta).__name__}, not an object")
    saved_at, original = meta.get("saved_at"), meta.get("original")
    if isinstance(saved_at, bool) or not isinstance(saved_at, (int, float)) or not math.isfinite(saved_at):
        raise DamagedRecord(f"{record.name}: saved_at is {saved_at!r}, not a time")
    try:
        time.localtime(saved_at)
    except (OverflowError, OSError, ValueError):
        raise DamagedRecord(f"{record.name}: saved_at {saved_at!r} is not a time this system can show") from None
    if original is not None and (not isinstance(original, str) or not original or "\0" in original):
        raise DamagedRecord(f"{record.name}: original is {original!r}, not a path")
    return (Path(original) if original else None), float(saved_at)


def set_aside(item: Recoverable) -> list[Path]:
    """Keep a recovery copy that cannot be opened under a `DAMAGED` name, with its record; the new names."""
    return _set_aside(item.copy.with_suffix(".json"), item.copy)


def _set_aside(record: Path, copy: Path) -> list[Path]:
    """Rename a damaged record and its copy and waiting weights with `DAMAGED` added; the new names of those moved."""
    moved = []
    for path in (record, copy, _weights_of(copy)):
        if not path.is_file():
            continue
        target = path.with_name(path.name + DAMAGED)
        k = 2
        while target.exists():
            target = path.with_name(f"{path.name}{DAMAGED}{k}")
            k += 1
        try:
            path.rename(target)
        except OSError:
            continue
        moved.append(target)
    return moved


def recover(item: Recoverable) -> Project:
    """Load a recovery copy (its files stay until the recovered project is saved or dismissed)."""
    return load_project(item.copy)


def waiting_weights(item: Recoverable, project: Project) -> Path | None:
    """The weights of an unsaved import that wait beside the recovery copy, if the project uses them."""
    weights = _weights_of(item.copy)
    return weights if project.training.weights == str(weights) and weights.is_file() else None


def dismiss(item: Recoverable) -> None:
    """Delete a recovery copy the user does not want."""
    for path in (
        item.copy,
        item.copy.with_suffix(".json"),
        item.copy.with_suffix(".lock"),
        _weights_of(item.copy),
    ):
        path.unlink(missing_ok=True)


def _weights_of(copy: Path) -> Path:
    return copy.with_suffix(".weights.npz")


def _abandoned(copy: Path) -> bool:
    lock = QLockFile(str(copy.with_suffix(".lock")))
    lock.setStaleLockTime(0)
    if not lock.tryLock(0):
        return False
    lock.unlock()
    return True
