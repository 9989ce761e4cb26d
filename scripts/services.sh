#!/usr/bin/env bash
# Starts PostgreSQL and Redis for the tests when they are not running, and fails when they
# still cannot be reached. Prints the URLs to use as `export` lines.
set -euo pipefail

pg_url="${WAGATE_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432}"
redis_host=127.0.0.1
redis_port=6379

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_ready() { redis-cli -h "$redis_host" -p "$redis_port" ping 2>/dev/null | grep -q PONG; }

if ! pg_ready; then
  echo "services: starting PostgreSQL" >&2
  for version in $(ls /etc/postgresql 2>/dev/null); do
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  done
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
fi
if ! redis_ready; then
  echo "services: starting Redis" >&2
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$redis_port" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log >&2
  for _ in $(seq 1 30); do redis_ready && break; sleep 0.5; done
fi

pg_ready || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
redis_ready || { echo "services: Redis is not reachable on 127.0.0.1:6379" >&2; exit 1; }

# A freshly installed Debian PostgreSQL asks for a password on TCP: give the tests one.
if ! psql "$pg_url/postgres" -Atc 'select 1' >/dev/null 2>&1; then
  as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >&2
  pg_url="postgresql://postgres:postgres@127.0.0.1:5432"
  psql "$pg_url/postgres" -Atc 'select 1' >/dev/null \
    || { echo "services: cannot log in to PostgreSQL" >&2; exit 1; }
fi
echo "export WAGATE_TEST_PG_URL=$pg_url"
echo "export WAGATE_TEST_REDIS_URL=redis://$redis_host:$redis_port/0"
