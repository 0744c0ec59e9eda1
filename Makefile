# The study's common tasks. `make run` and `make test` create .venv and install into it when
# needed (python3 -m venv + pip; no conda required).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= default

# Unpack the shared PhysioNet tarballs instead of downloading, when they sit beside the checkout.
ifneq ($(wildcard ../shared/data),)
export ECG_MIRROR ?= $(abspath ../shared/data)
endif
export MPLBACKEND ?= Agg

.PHONY: install run smoke test unit nbval lint lab model bench bench-scanner clean-reports

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Run the whole study (PROFILE=smoke|default|afdb), two notebooks at once as every published
## run: on 2 cores each notebook then has one thread and the CNNs' numbers reproduce to the digit.
run: install
	$(PY) run_all.py --profile $(PROFILE) --notebooks 2

smoke: install
	$(PY) run_all.py --profile smoke --notebooks 2

## Lint, unit tests (incl. papermill smoke runs of every notebook), nbval on the notebooks.
test: install lint unit nbval

lint: install
	$(VENV)/bin/ruff check ecgutils tests run_all.py benchmarks

unit: install
	$(PY) -m pytest -q tests

nbval: install
	ECGUTILS_PROFILE=smoke ECGUTILS_REPORTS_DIR=$(CURDIR)/reports/nbval \
		$(PY) -m pytest -q --nbval-lax -p no:cacheprovider notebooks/

## Rebuild the release bundle shipped in ecgutils/release/detector (trains on all of CinC
## 2017; KIND=cnn builds the CNN detector instead of the feature detector, reusing matching
## fold models in reports/models/release unless RETRAIN=1).
model: install
	$(PY) -m ecgutils.release --profile $(PROFILE) $(if $(RETRAIN),--retrain,) \
		$(if $(KIND),--kind $(KIND),)

## The study's costs on this machine: reports/benchmarks.md and .json (throughputs per model,
## peak RSS at 1x/4x/16x the input, notebook wall times of the published default run, the
## scanner on 30 min and 24 h, 1 vs 2 Dask workers). About 15 min on 2 cores.
bench: install
	$(PY) benchmarks/bench_all.py

## Scanner throughput on one core: 24 h of real mitdb ECG scanned with the packaged model.
bench-scanner: install
	$(PY) benchmarks/bench_scanner.py

lab: install
	$(VENV)/bin/jupyter lab notebooks/

## Remove the outputs of notebooks opened by hand and of nbval (never the run folders:
## run_all.py --prune KEEP removes old runs).
clean-reports:
	rm -rf reports/notebooks reports/figures reports/metrics reports/nbval
