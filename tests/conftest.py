"""Test configuration: headless Qt, a fresh Keras home and settings folder per process, and bounded hypothesis profiles."""

import atexit
import os
import shutil
import tempfile

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
