#!/usr/bin/env bash
# The benchmark: sets up what it needs (wrk, .venv, PostgreSQL, Redis) and runs everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
eval "$(bash scripts/services.sh)"
exec .venv/bin/python -m bench.run "$@"
