# make demo  — create .venv, install everything, run the main job (netrx improve) on MNIST-1D
# make test  — same set-up, then the whole test suite and a strict build of the manual (docs/)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test docs bench lint clean browser pg

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

DEMO_BUDGET ?= 3m

# the main job: baseline, diagnosis, tuning, ensemble, test once; prints where the report is
demo: $(STAMP)
	$(BIN)/netrx improve mnist1d --budget $(DEMO_BUDGET) --name demo-$$(date +%Y%m%d-%H%M%S)

# The report test opens the HTML in a real headless Chromium (Debian package).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  >/dev/null; } || echo "chromium unavailable: the browser test will be skipped"

# The tuning tests start a throwaway PostgreSQL server on 127.0.0.1 (tests/tune/conftest.py)
# from the Debian package's binaries; without them those tests are skipped.
pg:
	@command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq postgresql >/dev/null; } || \
	  echo "postgresql unavailable: the PostgreSQL tuning tests will be skipped"

# The manual (mkdocs-material; API pages from the docstrings by mkdocstrings) into site/.
# --strict: a broken link, a missing anchor or an unresolved reference fails the build.
# (No -q: it would hide the warnings that --strict counts.)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: $(STAMP) browser pg docs
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/population.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) runs site .pytest_cache
