# Two commands do everything on a fresh machine (Debian 12, Python 3.11):
#   make demo   set up, run the whole workflow on the embedded demo dataset,
#               write results/summary.md and results/report.html
#   make test   set up, run the test suite
# Both are idempotent: a second run reuses the virtual environment.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_WHEEL := resources/demo/insightface-2.1-py3-none-any.whl
SNAKEMAKE := $(BIN)/snakemake
CORES ?= all

.PHONY: setup demo test lint format dag clean help

help:
	@echo "make demo   set up and run the workflow on the embedded demo dataset"
	@echo "make test   set up and run the test suite"
	@echo "make lint   ruff, snakefmt --check and snakemake --lint"
	@echo "make dag    redraw docs/rulegraph.svg"

setup: $(STAMP) $(DEMO_WHEEL)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# The demo dataset is drawn from face photographs bundled in this wheel; it is
# read as a zip file and never installed.
$(DEMO_WHEEL):
	mkdir -p $(dir $@)
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: \
		--dest $(dir $@) insightface==2.1
	test -f $@

demo: setup
	$(SNAKEMAKE) --profile profiles/default --cores $(CORES)
	$(SNAKEMAKE) --profile profiles/default --report results/report.html
	@echo
	@cat results/summary.md
	@echo
	@echo "HTML report: results/report.html"

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules
	$(SNAKEMAKE) --lint

format: setup
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile rules

dag: setup
	$(SNAKEMAKE) --rulegraph | dot -Tsvg > docs/rulegraph.svg

clean:
	rm -rf results .snakemake
