# Two set-up commands for users: `make demo` and `make test`. Everything installs from scratch
# into .venv; torch is pinned to the local CPU wheel first so pip never resolves a CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_PIN := torch==2.13.0
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python

.PHONY: install demo test test-all bench-setup bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# nnsafety lives in .venv: say how to call it (a bare `nnsafety` is "command not found" until the
# venv is activated).
HOW_TO_RUN := @echo "nnsafety is installed in $(VENV): run .venv/bin/nnsafety --help, or first: source $(VENV)/bin/activate"

install: $(VENV)/.installed
	$(HOW_TO_RUN)

demo: install
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/nnsafety demo
	$(HOW_TO_RUN)

# OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep instead of spinning on the shared cores.
test: install
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q

test-all: install
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q -m ""

# Peer libraries for side-by-side benchmarks, in their own venv. The constraints file keeps torch
# at the local wheel (no peer may pull another one) and setuptools < 81 (imagecorruptions imports
# pkg_resources). torchattacks is installed without its torchvision dependency.
$(BENCH_VENV)/.installed: benchmarks/constraints.txt benchmarks/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet --upgrade pip
	$(BENCH_PY) -m pip install --quiet $(TORCH_PIN) -c benchmarks/constraints.txt
	$(BENCH_PY) -m pip install --quiet -c benchmarks/constraints.txt -r benchmarks/requirements.txt
	$(BENCH_PY) -m pip install --quiet --no-deps -c benchmarks/constraints.txt torchattacks==3.5.1 imagecorruptions==1.1.2
	$(BENCH_PY) -m pip install --quiet --no-deps -e .
	touch $@

bench-setup: $(BENCH_VENV)/.installed

# Each benchmark prints a Markdown table of paired timings and ratios (see docs/benchmarks.md).
# Those whose peer can be imported beside nnsafety run in .venv-bench; the others start the peer
# side there themselves.
BENCH_ENV := OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1
bench: install bench-setup
	$(BENCH_ENV) $(PY) benchmarks/bench_trainer.py
	$(BENCH_ENV) $(PY) benchmarks/bench_corruptions.py
	$(BENCH_ENV) $(PY) benchmarks/bench_methods.py --setting digits
	$(BENCH_ENV) $(PY) benchmarks/bench_attacks.py
	$(BENCH_ENV) $(PY) benchmarks/bench_noise_response.py
	$(BENCH_ENV) $(BENCH_PY) benchmarks/bench_hessian.py
	$(BENCH_ENV) $(BENCH_PY) benchmarks/bench_spectral.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) build *.egg-info src/*.egg-info
