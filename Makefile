# The README's two commands: `make run` and `make test`. Both work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EXAMPLE := assets/examples/digits_cnn.lstudio

.PHONY: run test lint bench screenshots clean

$(VENV)/.base: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,deploy]'
	$(PY) -m pip install --quiet --no-deps -c constraints.txt onnx2torch
	touch $@

run: $(VENV)/.base
	$(VENV)/bin/layer-studio $(EXAMPLE)

# Two workers (pytest-xdist) keep both cores of a CI machine busy. loadscope hands out whole modules, the
# largest first, so a module's fixtures (the Keras matrix, the LiteRT conversions) are built once, on one worker;
# the modules tests/conftest.py lists in SPLIT go test by test, last, to even out the workers' ends.
# (loadgroup would not group: xdist 3.8 marks a group in item._nodeid, which pytest 9 no longer reads.)
TEST_WORKERS ?= 2
test: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check studio tests benchmarks tools

bench: $(VENV)/.dev
	$(PY) benchmarks/graph_scale.py
	$(PY) benchmarks/codegen_speed.py
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/editor_scale.py
	$(PY) benchmarks/editor_startup.py

screenshots: $(VENV)/.base
	QT_QPA_PLATFORM=offscreen $(PY) tools/screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
