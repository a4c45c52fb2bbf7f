"""Test configuration: headless Qt, a fresh Keras home and settings folder per process, and bounded hypothesis profiles."""

import atexit
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keras runs as on a fresh install: no keras.json of this machine's; the exporter picks its backend.
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="layer-studio-tests-keras-")
atexit.register(shutil.rmtree, os.environ["KERAS_HOME"], ignore_errors=True)
# Settings, recovery records and the block library go to a folder of this process's own, never the user's:
# parallel workers (make test) do not share one. The editor's tests each take a fresh one (tests/ui/conftest.py).
os.environ["LAYER_STUDIO_HOME"] = tempfile.mkdtemp(prefix="layer-studio-tests-home-")
atexit.register(shutil.rmtree, os.environ["LAYER_STUDIO_HOME"], ignore_errors=True)

settings.register_profile(
    "ci", max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# Modules whose tests `make test` hands out one by one (each is independent and slow: a child process or a
# training run, with no module-wide fixture); every other module runs whole on one worker. Single tests go
# last, after the modules (largest first), so they even out the workers' ends.
SPLIT = {
    "tests/hostile/test_hostile_cli.py",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Under `--dist loadscope`, whole modules except SPLIT's tests, which go one by one (see SPLIT)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndSplit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid if nodeid.split("::", 1)[0] in SPLIT else super()._split_scope(nodeid)

    return ModulesAndSplit(config, log)
