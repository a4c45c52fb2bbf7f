"""Every hostile input gets one line and exit status 2 from `layer-studio`, in bounded time and memory, and leaves its targets as they were."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.cases import CASES, Case
from tests.hostile.inputs import MARKER
from tests.hostile.limited import fingerprint, run_limited


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_hostile_input_gets_one_line(case: Case, tmp_path: Path) -> None:
    setup = case.make(tmp_path)
    before = {path: fingerprint(path) for path in setup.targets}
    outcome = run_limited(setup.args, tmp_path, case.memory, case.timeout)
    assert outcome.status is not None, f"still running after {case.timeout:g} s\n{outcome.describe()}"
    assert "Traceback" not in outcome.stderr + outcome.stdout, outcome.describe()
    assert outcome.status == case.status, outcome.describe()
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1, outcome.describe()
    assert all(word in lines[0] for word in setup.words), outcome.describe()
    assert {path: fingerprint(path) for path in setup.targets} == before
    assert not (tmp_path / MARKER).exists(), "the input ran code"
