#!/usr/bin/env bash
# Sets everything up, then starts the gateway on its embedded defaults
# (SQLite under ./data, in-process queue, http://127.0.0.1:8080). Extra arguments go to
# `wagate serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/wagate serve "$@"
