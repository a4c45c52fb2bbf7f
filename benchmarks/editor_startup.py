"""Time from launching the editor to its window on screen, against bare Python and a bare Qt window.

Each run starts a fresh process and takes the wall-clock time from just before the launch to the
moment the window has been shown and painted once (the child prints `time.time()` then). The
baselines in the same run: an interpreter that does nothing, and one that shows an empty QWidget.
Goal (issue 4): the editor on screen within 1 s of launch on the project's 2-core machines.

Run: .venv/bin/python benchmarks/editor_startup.py [--repeats 5]   (offscreen unless a display is set)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph_scale import machine

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "assets" / "examples" / "digits_cnn.lstudio"
SHOWN = "import time; from PySide6.QtWidgets import QApplication; QApplication.processEvents(); print(time.time())"
PROGRAMS = {
    "python, nothing": "import time; print(time.time())",
    "empty Qt window": f"from PySide6.QtWidgets import QApplication, QWidget; app = QApplication([]); w = QWidget(); w.show(); {SHOWN}",
    "Layer Studio editor (digits example)": (
        f"from studio.ui import open_main_window; w = open_main_window({str(DIGITS)!r}); w.show(); {SHOWN}; w.files.close()"
    ),
}


def launch_ms(code: str) -> float:
    """Milliseconds from just before the process starts until it reports its window shown."""
    env = dict(os.environ)
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        env["QT_QPA_PLATFORM"] = "offscreen"
    start = time.time()
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return (float(result.stdout.strip().splitlines()[-1]) - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    results = {
        name: min(launch_ms(code) for _ in range(args.repeats))
        for name, code in PROGRAMS.items()
    }
    base = results["python, nothing"]
    for name, ms in results.items():
        print(f"  {name:<40} {ms:7.0f} ms   ratio to bare python {ms / base:5.1f}")
    editor = results["Layer Studio editor (digits example)"]
    print(
        f"goal: window on screen within 1000 ms: {'met' if editor < 1000 else 'NOT met'} ({editor:.0f} ms)"
    )


if __name__ == "__main__":
    main()
