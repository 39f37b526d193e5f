# The two commands: `make run` (start the whole panel) and `make test` (the checks CI runs).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# honcho gives every process its own PORT, so the web address travels under other names.
export PANEL_HOST := $(HOST)
export PANEL_PORT := $(PORT)

.PHONY: run stop-local test venv system-packages migrate demo lint format kube-testbed test-postgres test-sqlite bench clean

$(STAMP): requirements.txt requirements-nodeps.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	@touch $(STAMP)

venv: $(STAMP)

# System packages the panel and its tests need: installed with apt-get only when missing.
system-packages:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v kubectl >/dev/null || missing="$$missing kubernetes-client"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Missing system packages:$$missing (install them with apt-get as root)"; exit 1; \
	  fi; \
	fi

migrate: venv
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py bootstrap_demo

run: venv system-packages demo
	$(PY) manage.py check_encryption
	$(VENV)/bin/honcho start -f Procfile

# Local runs (the demo cameras included) outlive `make run` on purpose; this stops them.
stop-local: venv
	$(PY) manage.py stop_local

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Builds (once per machine, cached under ~/.cache) the Kubernetes control plane the tests use.
# `make test` needs it: its Kubernetes tests fail rather than skip (KUBE_TESTBED_REQUIRED=1).
kube-testbed: venv
	tests/kube/build.sh

# Two pytest processes (pytest-xdist), a file at a time each: most tests wait on real servers
# and processes, so two sessions (each with its own Redis, Celery worker, test database,
# Kubernetes control plane and API server) share the cores. PYTEST_WORKERS=0 runs one.
PYTEST_WORKERS ?= 2
test-postgres: venv
	KUBE_TESTBED_REQUIRED=1 $(PY) -m tests.tools.with_postgres -- $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-sqlite: venv
	DATABASE_URL= $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile -m smoke -p no:cacheprovider $(PYTEST_ARGS)

test: venv system-packages lint kube-testbed
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null
	$(MAKE) --no-print-directory test-postgres
	$(MAKE) --no-print-directory test-sqlite

bench: venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The gRPC client and server of Akri's camera.proto (committed; tests/media_pipeline checks
# that they match what grpcio-tools generates from the copied proto).
akri-proto: venv
	$(PY) -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. media_pipeline/akri_proto/camera.proto
