"""The repository stands alone: no source, test, benchmark or tool names a path on one machine."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("studio", "tests", "benchmarks", "tools", "assets", ".ci", "Makefile", "pyproject.toml", "constraints.txt")
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache"}
MACHINE_PATH = re.compile(
    r"/work/"  # the absolute path of the project's machines
    r"|\.\./shared\b"  # the reference folder beside a checkout, which a clone does not have
    r"|[\"']shared[\"']"  # the same, built as a path: parents[n] / "shared"
    r"|/home/|/Users/"
)


def scanned_files() -> list[Path]:
    """Every text file the scan covers (documentation, *.md, may point at the shared design notes)."""
    files = []
    for name in SCANNED:
        top = ROOT / name
        candidates = [top] if top.is_file() else top.rglob("*")
        for path in candidates:
            if path.is_file() and path.suffix != ".md" and not SKIPPED_DIRS & set(path.relative_to(ROOT).parts):
                files.append(path)
    return files


def test_no_file_names_a_path_outside_the_repository() -> None:
    me = Path(__file__).resolve()
    hits = []
    for path in scanned_files():
        if path.resolve() == me:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary data (icons, datasets)
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, "paths outside the repository:\n" + "\n".join(hits)


def test_the_scan_covers_the_sources_and_sees_a_machine_path() -> None:
    files = {p.relative_to(ROOT).as_posix() for p in scanned_files()}
    assert {"studio/cli.py", "tests/interop/caffe_nets.py", "tests/codegen/test_caffe.py", "pyproject.toml"} <= files
    assert MACHINE_PATH.search('MODELS = Path("' + "/work" + '/shared/models/caffe")')
    assert MACHINE_PATH.search('Path(__file__).resolve().parents[3] / "shared" / "models"')
    assert not MACHINE_PATH.search('Path(__file__).resolve().parents[1] / "data" / "caffe"')
