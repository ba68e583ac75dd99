# ReasonScope: the two entry points a fresh machine needs.
#   make app   -> set up .venv, pull the embedded default model, start the app (prints the local URL)
#   make test  -> set up .venv (+ the ray/postgres extras, chromium and postgresql from Debian), pull the default
#                 model, run the whole suite (the tests start and stop their own PostgreSQL and Ray; the ndif
#                 tier builds its own NDIF server venv under ~/.cache/reasonscope-test/ndif once)
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

.PHONY: setup app test test-fast test-integration bench lint model clean-venv test-extras pg-deps

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

setup: $(STAMP)

# The optional extras only the test tiers need (kept out of `make app`'s install).
TEST_STAMP := $(VENV)/.test-extras-$(shell cat pyproject.toml | md5sum | cut -c1-12)
$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,ray,postgres]"
	@rm -f $(VENV)/.test-extras-*; touch $(TEST_STAMP)

test-extras: $(TEST_STAMP)

model: setup
	$(BIN)/reasonscope model pull

app: model
	@echo "ReasonScope will be at http://localhost:$(PORT)"
	$(BIN)/streamlit run app/streamlit_app.py --server.port $(PORT) --server.address 127.0.0.1 --server.headless true --browser.gatherUsageStats false

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian keeps initdb in /usr/lib/postgresql/<major>/bin. Without apt (or network) this only warns: the
# postgres tests then skip with the reason.
pg-deps:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; } \
	  || echo "pg-deps: could not install Debian's postgresql; the postgres tests will skip"

test: setup test-extras browser-deps pg-deps model
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest tests -m "not integration and not app and not postgres and not ray and not ndif" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check core app tests benchmarks
	$(BIN)/lint-imports

bench: model
	$(BIN)/python -m benchmarks.run_all

clean-venv:
	rm -rf $(VENV)
