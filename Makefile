# The everyday commands. Each runs the tools of .venv (made by `make setup`).

BIN := .venv/bin
PATHS := src tests bench clients integrations
# Everything but the tests that start real server processes, browsers, containers, n8n or build
# the wheel: the loop to run while changing code. ARGS go to pytest (make quick ARGS="-x tests/unit").
QUICK := not e2e and not browser and not container and not package and not n8n

.PHONY: setup test quick lint fmt docs

setup:
	bash scripts/setup.sh --test

# The whole suite, as CI runs it: setup, lint, type check, the layer contract, every test.
test:
	bash scripts/test.sh $(ARGS)

quick:
	eval "$$(bash scripts/services.sh)" && $(BIN)/pytest -m "$(QUICK)" $(ARGS)

lint:
	$(BIN)/ruff check $(PATHS)
	$(BIN)/ruff format --check $(PATHS)
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt:
	$(BIN)/ruff check --fix $(PATHS)
	$(BIN)/ruff format $(PATHS)

# docs/configuration.md and .env.example, from the settings in src/wagate/config.py.
docs:
	$(BIN)/python -m wagate.config_docs
