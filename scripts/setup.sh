#!/usr/bin/env bash
# Installs what wagate needs on a Debian machine with Python 3.11 and creates .venv.
# Usage: scripts/setup.sh [--test]   (--test also installs what the test suite needs: the dev
# extra, PostgreSQL, Redis and the browsers)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup: need root (or sudo) to install: $*" >&2; return 1; fi
}

missing=()
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# libmagic: neonize imports python-magic; ffmpeg/ffprobe: neonize's video and voice notes.
[ -e /usr/lib/x86_64-linux-gnu/libmagic.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libmagic.so.1 ] \
  || ldconfig -p 2>/dev/null | grep -q libmagic.so.1 || missing+=(libmagic1)
command -v ffprobe >/dev/null || missing+=(ffmpeg)
if [ "$want_test" = 1 ]; then
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
  command -v chromium >/dev/null || missing+=(chromium)
  # The dashboard's Firefox test drives it over WebDriver BiDi (tests/browser/firefox.py).
  command -v firefox-esr >/dev/null || missing+=(firefox-esr)
  # The broker sinks' tests start their own RabbitMQ and NATS (tests/support/brokers.py).
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
  # The n8n package's tests build it with npm and install n8n from npm (tests/support/n8n.py).
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  # n8n's sqlite3 is compiled on install when its prebuilt binary cannot be downloaded.
  command -v g++ >/dev/null || missing+=(g++)
  command -v make >/dev/null || missing+=(make)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# The stamp holds the extras installed: serving needs [whatsmeow] only, the tests [dev] too.
# A venv made for serving and later used for tests gets the dev extra then; one made for tests
# keeps it when a serve reinstalls after a change to pyproject.toml.
stamp=.venv/.wagate-installed
installed=$(cat "$stamp" 2>/dev/null || true)
extras=whatsmeow
if [ "$want_test" = 1 ] || [ "$installed" = dev,whatsmeow ]; then extras=dev,whatsmeow; fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$installed" != "$extras" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  echo "$extras" >"$stamp"
fi
