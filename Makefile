# Set-up on a fresh machine: `make demo` or `make test` create the virtualenv and install everything.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-slow bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch pinned first: the CPU wheel of this version is on these machines (an unpinned torch pulls CUDA).
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,plots,progress,dask]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest -q -x --durations=15

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow --durations=15

bench: $(STAMP)
	$(PY) benchmarks/bench_smc_step.py
	$(PY) benchmarks/bench_fixed_points.py

docs: $(STAMP)
	$(PY) -m pip install --quiet -e '.[docs]'
	$(PY) -m sphinx -W -b html doc doc/_build/html

clean:
	rm -rf $(VENV) build *.egg-info doc/_build
