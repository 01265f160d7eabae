# Two commands on a fresh machine: `make dev` (install + run the local cloud) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SAM_VENV ?= .venv-sam
CHECKOV_VENV ?= .venv-checkov
export SAM_CLI_TELEMETRY := 0

# Installs come from lock files with hashes. requirements-lock.txt pins everything .venv gets (the requirement
# files below, solved together for any OS and Python 3.11+). Each layer's requirements-lock.txt is solved for
# the Lambda runtime (python3.13, arm64) with that lock as a constraint, so the layers ship the versions the
# tests ran with. After changing a requirement file: `make lock`, then commit both. A lock is complete, so pip
# installs it with --no-deps (pip 23 refuses a dependency's extras in hash mode) and `pip check` verifies it.
REQUIREMENTS := layers/core/requirements.txt layers/providers/requirements.txt gpu-agent/requirements.txt \
	requirements-dev.txt
LOCK := requirements-lock.txt
LAYER_TARGET := --python-version 3.13 --python-platform aarch64-manylinux2014
COMPILE := $(VENV)/bin/uv pip compile -q --generate-hashes --custom-compile-command "make lock" $(LOCK_FLAGS)

.PHONY: install dev test test-unit test-integration test-e2e lint checkov validate build bench lock clean

$(STAMP): pyproject.toml gpu-agent/pyproject.toml $(LOCK)
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install -q --no-deps -e . -e gpu-agent
	$(PY) -m pip check
	touch $(STAMP)

install: $(STAMP)

dev: install  ## run the whole platform locally in the foreground (Ctrl-C stops it)
	$(PY) -m localcloud

test: install checkov  ## the whole suite: lint, checkov, unit, integration, e2e
	$(VENV)/bin/ruff check .
	$(VENV)/bin/cfn-lint template.yaml
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit

test-integration: install
	$(PY) -m pytest tests/integration

test-e2e: install
	$(PY) -m pytest tests/e2e

lint: install checkov
	$(VENV)/bin/ruff check .
	$(VENV)/bin/cfn-lint template.yaml

# checkov has many dependencies: it lives in its own virtualenv, installed from hashed pins.
$(CHECKOV_VENV)/bin/checkov: tools/checkov-requirements.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --require-hashes -r tools/checkov-requirements.txt
	touch $@

checkov: $(CHECKOV_VENV)/bin/checkov  ## the template's security checks (skips are listed in the template)
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

$(SAM_VENV)/bin/sam: tools/sam-requirements.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --require-hashes --no-deps -r tools/sam-requirements.txt
	$(SAM_VENV)/bin/pip check
	touch $@

validate: $(SAM_VENV)/bin/sam lint  ## sam validate --lint (SAM CLI lives in its own virtualenv)
	$(SAM_VENV)/bin/sam validate --lint --region us-east-1

# sam build checks that the runtime's Python is on PATH, even for makefile builds that never run it.
build: $(SAM_VENV)/bin/sam  ## build functions and layers for python3.13/arm64 without containers
	@python3.13 -c '' 2>/dev/null || { \
		echo "make build: sam build needs the Lambda runtime's Python, python3.13, on PATH (no container is used)."; \
		echo "Install Python 3.13 or put it on PATH, then run make build again."; \
		echo "With pyenv: pyenv install 3.13, then PYENV_VERSION=<your default>:<3.13 version> make build"; \
		echo "(for example PYENV_VERSION=3.11.7:3.13.0), which keeps python3 as it is and adds python3.13."; \
		exit 1; } >&2
	$(SAM_VENV)/bin/sam build

lock:  ## re-solve the lock files from the requirement files (LOCK_FLAGS=--upgrade: newest allowed)
	test -x $(VENV)/bin/uv || { test -x $(PY) || $(PYTHON) -m venv $(VENV); $(PY) -m pip install -q 'uv>=0.9,<1'; }
	$(COMPILE) --universal --python-version 3.11 -o $(LOCK) $(REQUIREMENTS)
	$(COMPILE) $(LAYER_TARGET) -c $(LOCK) -o layers/core/requirements-lock.txt layers/core/requirements.txt
	$(COMPILE) $(LAYER_TARGET) -c $(LOCK) -o layers/providers/requirements-lock.txt \
		layers/core/requirements.txt layers/providers/requirements.txt
	$(COMPILE) --universal --python-version 3.11 -c $(LOCK) -o gpu-agent/requirements-lock.txt \
		layers/core/requirements.txt gpu-agent/requirements.txt
	for input in tools/*-requirements.in; do \
		$(VENV)/bin/uv pip compile -q $$input --generate-hashes --universal --python-version 3.11 $(LOCK_FLAGS) \
			-o $${input%.in}.txt || exit 1; \
	done

bench: install
	$(PY) bench/create_task_path.py
	$(PY) bench/cold_start.py
	$(PY) bench/agent_overhead.py
	$(PY) bench/agent_memory.py
	$(PY) bench/moto_transactions.py

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .local
