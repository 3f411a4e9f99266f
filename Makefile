# Every target sets up its own virtual environment (.venv) first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint bench reliability clean postgresql

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# .venv with the project and its tools: `. .venv/bin/activate` puts dmdelegation and twistd on PATH.
venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m dmdelegation.lab.demo

# The PostgreSQL server the store's tests and benchmarks/scale.py start a throw-away cluster of.
postgresql:
	sh .ci/postgresql.sh

test: $(STAMP) postgresql
	$(BIN)/python -m pytest -q

reliability: $(STAMP)
	$(BIN)/python -m pytest -q reliability

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP) postgresql
	@for b in benchmarks/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
