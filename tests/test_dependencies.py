"""pyproject's dependency ranges admit no known-bad release, and constraints.txt's pins fit them."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
KNOWN_BAD = tomllib.loads((ROOT / "tests" / "data" / "known_bad_versions.toml").read_text(encoding="utf-8"))["bad"]


def declared() -> dict[str, list[Requirement]]:
    """Every requirement in pyproject (base and extras), by canonical package name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    found: dict[str, list[Requirement]] = {}
    for line in lines:
        requirement = Requirement(line)
        found.setdefault(canonicalize_name(requirement.name), []).append(requirement)
    return found


def pins() -> dict[str, Version]:
    """constraints.txt's `name==version` lines, by canonical package name."""
    found = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            found[canonicalize_name(name)] = Version(version)
    return found


@pytest.mark.parametrize("bad", KNOWN_BAD, ids=lambda b: f"{b['package']}=={b['version']}")
def test_no_range_admits_a_known_bad_release(bad: dict[str, str]) -> None:
    requirements = declared().get(canonicalize_name(bad["package"]))
    assert requirements, f"{bad['package']} is known bad at {bad['version']} but pyproject does not name it to exclude it"
    for requirement in requirements:
        assert not requirement.specifier.contains(bad["version"], prereleases=True), (
            f"pyproject admits {bad['package']} {bad['version']} ({bad['why']})"
        )


def test_every_pin_fits_pyprojects_ranges_and_is_not_known_bad() -> None:
    ranges = declared()
    bad = {(canonicalize_name(b["package"]), Version(b["version"])) for b in KNOWN_BAD}
    for name, version in pins().items():
        assert (name, version) not in bad, f"constraints.txt pins the known-bad {name} {version}"
        for requirement in ranges.get(name, []):
            assert requirement.specifier.contains(version), f"constraints.txt pins {name} {version} outside {requirement}"


def test_every_pyproject_dependency_is_pinned() -> None:
    missing = sorted(set(declared()) - set(pins()))
    assert not missing, f"constraints.txt pins none of {', '.join(missing)}"


def test_torch_stops_at_the_tested_line() -> None:
    """A plain install must not pull a newer torch (and its CUDA stack) than the one constraints.txt tests."""
    (torch,) = declared()["torch"]
    tested = pins()["torch"]
    assert torch.specifier.contains(tested)
    assert not torch.specifier.contains(f"{tested.major}.{tested.minor + 1}.0")
