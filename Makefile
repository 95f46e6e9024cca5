# slmlab: set up, open the course, run it headless, test, benchmark.
# Every install step lives here: a fresh clone needs nothing done by hand.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: setup lab sync course test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[dev]" "$(TORCH)"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

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

# Sync, then run every notebook headless in the cpu profile and write the outputs back
# (NB=01_data_and_tokenizers runs just one).
course: setup
	SLMLAB_PROFILE=cpu $(PY) -m slmlab.notebooks run $(NB)

# Unit tests, then every notebook and solution through nbval in the smoke profile.
test: setup
	SLMLAB_PROFILE=smoke MPLBACKEND=Agg $(PY) -m pytest -q -p no:cacheprovider tests
	SLMLAB_PROFILE=smoke SLMLAB_THREADS=1 MPLBACKEND=Agg SLMLAB_RUNS_DIR=$$(mktemp -d) $(PY) -m pytest -q \
		-p no:cacheprovider --nbval-lax --sanitize-with tests/nbval_sanitize.cfg notebooks

lint: setup
	$(VENV)/bin/ruff check slmlab tests notebooks

bench: setup
	$(PY) -m slmlab bench --out bench

clean:
	rm -rf $(VENV) runs bench .pytest_cache
