PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: setup test quickstart
setup:
	@bash scripts/setup_env.sh

test: setup
	$(PY) -m pytest -q tests

quickstart: setup
	$(PY) scripts/quickstart.py
