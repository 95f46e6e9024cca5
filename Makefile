# slmlab: set up, open the course, run it headless, test, benchmark.
# Every install step lives here: a fresh clone needs nothing done by hand.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

# Where torch comes from: empty (the default) is PyPI, which on Linux is the CUDA build (several
# GB); `cpu` (or cu126, cu128, ...) is PyTorch's own wheel index for that build; a URL is that
# index. Only the torch install reads it, so the default never waits on a host other than PyPI.
TORCH_INDEX ?=
TORCH_INDEX_URL = $(if $(filter http%,$(TORCH_INDEX)),$(TORCH_INDEX),$(if $(TORCH_INDEX),https://download.pytorch.org/whl/$(TORCH_INDEX)))
# Linux without an NVIDIA driver and no TORCH_INDEX: one line on how to skip the CUDA download.
NVIDIA_DRIVER ?= $(shell test -e /proc/driver/nvidia/version && echo yes)
TORCH_NOTE = $(if $(and $(filter Linux,$(shell uname -s)),$(if $(NVIDIA_DRIVER)$(TORCH_INDEX),,no)),\
	note: no NVIDIA driver here; `make setup TORCH_INDEX=cpu` takes the CPU build of torch instead of the CUDA one (several GB unused here))
# The versions CI ran (`make constraints` writes them): a fresh install reproduces its outputs.
CONSTRAINTS ?= constraints.txt

.PHONY: setup lab sync course test test-fast test-browser browser-deps lint format bench clean student test-student book test-book constraints

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@$(if $(TORCH_NOTE),echo '$(strip $(TORCH_NOTE))')
	$(PIP) install --quiet "$(TORCH)"$(if $(TORCH_INDEX_URL), --index-url $(TORCH_INDEX_URL))
	$(PIP) install --quiet -c $(CONSTRAINTS) -e ".[dev,lab]" "$(TORCH)"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# constraints.txt: what this venv holds (pip freeze), less slmlab itself and torch's own build
# (TORCH pins torch; its CUDA wheels differ by machine), each line for this Python's minor version
# only (another Python installs within pyproject's ranges). Run after `make setup` where CI runs.
PYVER = $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
constraints: setup
	{ echo "# The versions CI ran: pip freeze of .venv on Python $(PYVER) (make constraints). make setup installs"; \
	  echo "# with -c constraints.txt; on another Python the markers leave pyproject's ranges to choose."; \
	  $(PIP) freeze --exclude-editable \
	  | grep -viE '^(slmlab|torch|triton|nvidia-[a-z0-9-]*|cuda-[a-z0-9-]*|pip|setuptools|wheel)(==| @)' \
	  | sed 's/$$/ ; python_version == "$(PYVER)"/' ; } > constraints.txt

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

# Pre-downloaded data (TinyStories, Tiny Shakespeare, GPT-2 BPE files): the
# folder beside the repo when it is there, else whatever the user set.
SLMLAB_DATA_DIR ?= $(abspath $(wildcard ../shared/data))
export SLMLAB_DATA_DIR

# Each notebook's source is the py:percent file beside it (notebooks/NN_topic.py).
# sync: rebuild every .ipynb's cells from its source, keeping the outputs of the cells
# that did not change (seconds, runs nothing; NB=05_data_size syncs just one).
sync: setup
	$(PY) -m slmlab.notebooks sync $(NB)

# Sync, then run every notebook headless in the cpu profile (SLMLAB_PROFILE=gpu: the gpu one) and write the outputs back
# (NB=01_data_and_tokenizers runs just one; NB=04_val_loss_9_clinic CELLS=8,14 runs that notebook's cells in order
# up to cell 14 and writes back the outputs of cells 8 and 14 only: indices, cell ids or tags; the others keep theirs).
course: setup
	SLMLAB_PROFILE=$${SLMLAB_PROFILE:-cpu} $(PY) -m slmlab.notebooks run $(NB) $(if $(CELLS),--cells $(CELLS))

# Lint (ruff check, then ruff format --check unless FORMAT_CHECK=0), the unit tests (under a
# minute on 2 cores), the slow ones (real processes: torchrun, gloo ranks, subprocesses, the
# student edition through nbval), then every notebook and solution through nbval in the smoke
# profile. CI (.ci/run) runs this.
FORMAT_CHECK ?= 1
PYTEST := SLMLAB_PROFILE=smoke MPLBACKEND=Agg $(PY) -m pytest -q -p no:cacheprovider

test: lint
	$(PYTEST) -m "not slow" tests
	$(PYTEST) -m slow tests
	SLMLAB_THREADS=1 SLMLAB_RUNS_DIR=$$(mktemp -d) $(PYTEST) \
		--nbval-lax --sanitize-with tests/nbval_sanitize.cfg notebooks

# The contributors' inner loop: the unit tests without the slow ones (real processes:
# torchrun, gloo ranks, subprocesses), no lint, no notebooks.
test-fast: setup
	$(PYTEST) -m "not slow" tests

# The notebook sources are formatted as notebooks (jupytext pipes each one through ruff as an
# .ipynb), so a cell's trailing ';' that hides its value stays; ruff format on the .py would drop it.
NB_SOURCES = notebooks/[0-9][0-9]_*.py notebooks/solutions/*.py
NB_RUFF    = ruff format --stdin-filename notebook.ipynb -

lint: setup
	$(VENV)/bin/ruff check slmlab tests notebooks browser_tests
ifeq ($(FORMAT_CHECK),1)
	$(VENV)/bin/ruff format --check slmlab tests browser_tests
	PATH=$(VENV)/bin:$$PATH $(VENV)/bin/jupytext -q --pipe-fmt ipynb --check "$(NB_RUFF) --check" $(NB_SOURCES)
endif

# Format the package, the tests and the notebook sources, then sync the notebooks: a cell whose
# code only changed in layout keeps its outputs (slmlab.notebooks.merge compares the code's AST).
format: setup
	$(VENV)/bin/ruff format slmlab tests browser_tests
	PATH=$(VENV)/bin:$$PATH $(VENV)/bin/jupytext -q --pipe-fmt ipynb --pipe "$(NB_RUFF)" $(NB_SOURCES)
	$(MAKE) sync

# The dashboards clicked in JupyterLab in headless Chromium (browser_tests/, a few minutes;
# screenshots of each stage in build/browser/). browser-deps installs Debian's chromium with
# apt-get (as root, else through sudo) and playwright for Python (the `browser` extra) into the
# venv (SLMLAB_CHROMIUM: use that Chromium or Chrome binary instead, installing none). Never
# `playwright install`: the tests drive the system Chromium (executable_path).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
BROWSER_STAMP := $(VENV)/.installed-browser

browser-deps: setup $(BROWSER_STAMP)
	test -x "$${SLMLAB_CHROMIUM:-/usr/bin/chromium}" || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
		chromium fonts-dejavu-core >/dev/null; }

$(BROWSER_STAMP): $(STAMP) pyproject.toml
	$(PIP) install --quiet -c $(CONSTRAINTS) -e ".[dev,lab,browser]" "$(TORCH)"
	touch $(BROWSER_STAMP)

test-browser: browser-deps
	$(PY) -m pytest -q -p no:cacheprovider browser_tests

# The editions (slmlab/editions.py). student: every lesson and exercise stub with no outputs and
# no solutions (cells tagged `solution` left out), for handing out: build/student/slmlab-student/
# and build/student/slmlab-student.zip. test-student: builds it and runs all of it through nbval
# in the smoke profile (tests/test_editions.py runs one notebook of it). book: the course as a
# static website from the saved outputs, built offline with nbconvert: build/book/index.html.
# test-book: opens it in headless Chromium (browser_tests/test_book.py; screenshots in build/browser/).
student: setup
	$(PY) -m slmlab.editions student

test-student: student
	cd build/student/slmlab-student && SLMLAB_PROFILE=smoke SLMLAB_THREADS=1 MPLBACKEND=Agg \
		SLMLAB_RUNS_DIR=$$(mktemp -d) $(abspath $(PY)) -m pytest -q -p no:cacheprovider --nbval-lax \
		--sanitize-with $(abspath tests/nbval_sanitize.cfg) notebooks

book: setup
	$(PY) -m slmlab.editions book

test-book: book browser-deps
	$(PY) -m pytest -q -p no:cacheprovider browser_tests/test_book.py

# The speed cases, then the races (about 35 minutes): the speedrun beside nanoGPT's recipe (and
# nanoGPT's own train.py with NANOGPT=path/to/a/nanoGPT/checkout) and TinyStories in 10 minutes.
bench: setup
	$(PY) -m slmlab bench --out bench --targets speedrun,tinystories $(if $(NANOGPT),--nanogpt $(NANOGPT))

clean:
	rm -rf $(VENV) runs bench .pytest_cache
