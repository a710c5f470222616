# Set-up on a fresh machine: `make demo` or `make test` create the virtualenv and install everything.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERNELS := $(VENV)/.kernels-built

.PHONY: venv kernels demo test test-slow bench docs clean

$(STAMP): pyproject.toml
	@echo "make: creating $(VENV) and installing the dependencies (about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch pinned first: the CPU wheel of this version is on these machines (an unpinned torch pulls CUDA).
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,plots,progress,dask]'
	touch $(STAMP)

venv: $(STAMP)

# The C++ kernels, compiled once here (about a minute) so that no fit pays the build. Stamped only on success:
# without a compiler the targets below still run (fits use the slower torch path) and the next make retries.
$(KERNELS): $(STAMP) $(wildcard sklearn_lrnn/_engine/csrc/*) sklearn_lrnn/_engine/kernels.py
	$(PY) -m sklearn_lrnn.build_kernels && touch $(KERNELS) || echo "make: going on without the C++ kernels"

kernels: $(KERNELS)

demo: $(KERNELS)
	$(PY) examples/demo.py

test: $(KERNELS)
	$(PY) -m pytest -q -x --durations=15

test-slow: $(KERNELS)
	$(PY) -m pytest -q -m slow --durations=15

bench: $(KERNELS)
	$(PY) benchmarks/bench_smc_step.py
	$(PY) benchmarks/bench_fixed_points.py

docs: $(STAMP)
	$(PY) -m pip install --quiet -e '.[docs]'
	$(PY) -m sphinx -W -b html doc doc/_build/html

clean:
	rm -rf $(VENV) build *.egg-info doc/_build sklearn_lrnn/_engine/_build
