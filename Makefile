# Developer and CI entry points. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-unit test-e2e check bench bench-cluster bench-admission bench-rbac bench-watch bench-audit docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: scan the bundled vulnerable demo app and write out/demo-report.{md,json,sarif}
demo: $(STAMP)
	$(BIN)/kposture demo --out out

## test: the whole suite (unit, corpus and end-to-end)
test: $(STAMP)
	$(BIN)/pytest -q

test-unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

test-e2e: $(STAMP)
	$(BIN)/pytest -q tests/e2e

## check: lint, format, types and architecture contracts
check: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## bench: the 5,000-manifest benchmark (see docs/performance.md)
bench: $(STAMP)
	$(BIN)/python bench/scan_benchmark.py --install-checkov

## bench-cluster: 10,000 objects on the test kube-apiserver, scan --cluster vs kubectl get
bench-cluster: $(STAMP)
	scripts/test-cluster/build.sh
	$(BIN)/python bench/cluster_benchmark.py

## bench-rbac: RBAC analyzer on 5,000 roles and 50,000 bindings: graph build, who-can, escalation paths
bench-rbac: $(STAMP)
	$(BIN)/python bench/rbac_benchmark.py

## bench-admission: the admission webhook over TLS under open-loop load, /validate against /noop
bench-admission: $(STAMP)
	$(BIN)/python bench/admission_benchmark.py

## bench-watch: kposture watch on 10,000 objects, 1,000 changes at 100/s, against a rescan per change
bench-watch: $(STAMP)
	scripts/test-cluster/build.sh
	$(BIN)/python bench/watch_benchmark.py

## bench-audit: audit-log detection over 1,000,000 synthetic events against json.loads of the same log
bench-audit: $(STAMP)
	$(BIN)/python bench/audit_benchmark.py

## docs: regenerate docs/rules.md from the registry
docs: $(STAMP)
	$(BIN)/kposture rules docs > docs/rules.md

clean:
	rm -rf $(VENV) out build dist .pytest_cache .mypy_cache .ruff_cache
