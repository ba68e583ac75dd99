# ReasonScope: the two entry points a fresh machine needs.
#   make app   -> set up .venv, pull the embedded default model, start the app (prints the local URL)
#   make test  -> set up .venv (+ chromium for the browser tests), pull the default model, run the whole suite
#                 (the ndif tier builds its own NDIF server venv under ~/.cache/reasonscope-test/ndif once)
# GPU users: make app TORCH_SPEC="torch" TORCH_INDEX="https://download.pytorch.org/whl/cu124"
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)
PORT ?= 8501
PYTEST_ARGS ?=

.PHONY: setup app test test-fast test-integration bench lint model clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

setup: $(STAMP)

model: setup
	$(BIN)/reasonscope model pull

app: model
	@echo "ReasonScope will be at http://localhost:$(PORT)"
	$(BIN)/streamlit run app/streamlit_app.py --server.port $(PORT) --server.address 127.0.0.1 --server.headless true --browser.gatherUsageStats false

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: setup browser-deps model
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest tests -m "not integration and not app and not ndif" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check core app tests benchmarks
	$(BIN)/lint-imports

bench: model
	$(BIN)/python -m benchmarks.run_all

clean-venv:
	rm -rf $(VENV)
