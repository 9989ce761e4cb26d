#!/usr/bin/env bash
# Sets everything up (Debian packages, .venv, PostgreSQL and Redis) and runs the whole test
# suite: lint, type check, then every test. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
eval "$(bash scripts/services.sh)"
.venv/bin/ruff check src tests bench clients integrations
.venv/bin/ruff format --check src tests bench clients integrations
.venv/bin/mypy
.venv/bin/lint-imports
exec .venv/bin/pytest "$@"
