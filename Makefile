# Two commands on a fresh machine: `make dev` (install + run the local cloud) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SAM_VENV ?= .venv-sam
export SAM_CLI_TELEMETRY := 0

.PHONY: install dev test test-unit test-integration test-e2e lint validate build bench clean

$(STAMP): pyproject.toml layers/core/requirements.txt layers/providers/requirements.txt requirements-dev.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[providers,dev]"
	touch $(STAMP)

install: $(STAMP)

dev: install  ## run the whole platform locally in the foreground (Ctrl-C stops it)
	$(PY) -m localcloud

test: install  ## the whole suite: lint, unit, integration, e2e
	$(VENV)/bin/ruff check .
	$(VENV)/bin/cfn-lint template.yaml
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit

test-integration: install
	$(PY) -m pytest tests/integration

test-e2e: install
	$(PY) -m pytest tests/e2e

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/cfn-lint template.yaml

$(SAM_VENV)/bin/sam:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q aws-sam-cli

validate: $(SAM_VENV)/bin/sam lint  ## sam validate --lint (SAM CLI lives in its own virtualenv)
	$(SAM_VENV)/bin/sam validate --lint --region us-east-1

build: $(SAM_VENV)/bin/sam  ## build functions and layers for python3.13/arm64 without containers
	$(SAM_VENV)/bin/sam build

bench: install
	$(PY) bench/create_task_path.py
	$(PY) bench/cold_start.py

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .local
