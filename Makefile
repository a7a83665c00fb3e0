# The two commands a user needs on a fresh machine:
#   make demo   set everything up, build the MovieLens index, run the main job
#   make test   set everything up, then run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.convrec-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: setup system-deps demo test test-fast bench clean

setup: $(STAMP)

# torch first and pinned: it takes the CPU wheel on disk here; installed after other packages,
# a range would pull the newest multi-GB CUDA build.
$(STAMP): pyproject.toml requirements-assets.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[all]'
	$(PIP) install --quiet --no-deps -r requirements-assets.txt
	touch $@

# System packages the tests need: Debian's Chromium for the browser test, a JRE for Spark.
system-deps:
	@need=""; \
	command -v chromium >/dev/null || need="$$need chromium"; \
	command -v java >/dev/null || need="$$need default-jre-headless"; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need; fi; \
	fi

# The main job: the chat page on the built-in MovieLens catalog at http://127.0.0.1:7860
# (index and ranker are built the first time only; `convrec build` / `convrec train` redo them).
demo: setup
	$(VENV)/bin/convrec build --quiet --if-missing
	$(VENV)/bin/convrec train --quiet --if-missing
	$(VENV)/bin/convrec ui

test: setup system-deps
	$(VENV)/bin/python -m pytest -q

test-fast: setup
	$(VENV)/bin/python -m pytest -q -m "not slow"

bench: setup
	$(PY) bench/retrieval.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
