# raymas — two commands on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= test,brokers,serve,iot,gpu
STAMP  := $(VENV)/.installed

.PHONY: install run test unit lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) setup.cfg pyproject.toml constraints.txt
	$(PY) -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/raymas run config.yaml

test: install
	$(PY) -m pytest -q

unit: install
	$(PY) -m pytest -q tests/unit

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: install
	$(PY) -m pip install --quiet -c constraints.txt -e ".[bench]"
	$(PY) bench/agents.py --quick
	$(PY) bench/messaging.py --quick
	$(PY) bench/planning.py --quick
	$(PY) bench/swarm.py --quick
	$(PY) bench/learning.py --quick
	$(PY) bench/http.py --quick
	$(PY) bench/interfaces.py --quick
	$(PY) bench/coordination.py --quick
	$(PY) bench/stepping.py --quick

clean:
	rm -rf $(VENV) .raymas reports *.egg-info
