"""What the editor's tests share besides fixtures: where the example projects are."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"
