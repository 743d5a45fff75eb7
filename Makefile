# esteira: `make demo` and `make test` are all a new machine needs (Debian, Python 3.11, Java 17).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ESTEIRA := $(VENV)/bin/esteira
JARS := .esteira/jars
DEMO := .esteira/demo

.PHONY: setup venv jars services-deps demo test lint bench clean

setup: venv jars services-deps

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $@

jars: $(JARS)/spark/.done $(JARS)/kafka/.done
$(JARS)/spark/.done: pom.xml
	@command -v mvn >/dev/null || { echo "mvn (Maven) is needed: apt-get install maven"; exit 1; }
	rm -rf $(JARS)/spark
	mvn -q -B -P spark-jars dependency:copy-dependencies
	@touch $@
$(JARS)/kafka/.done: pom.xml
	rm -rf $(JARS)/kafka
	mvn -q -B -P kafka-broker dependency:copy-dependencies
	@touch $@

services-deps:
	@true

demo: setup
	$(ESTEIRA) datagen portfolio --clients 200000 --managers 1500 --keys 40 --out $(DEMO)/portfolio
	$(ESTEIRA) portfolio assign --clients $(DEMO)/portfolio/clients --managers $(DEMO)/portfolio/managers --out $(DEMO)/portfolio/out

test: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/pytest

lint: venv
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: setup
	$(PY) bench/portfolio_assign.py

clean:
	rm -rf $(VENV) .esteira
