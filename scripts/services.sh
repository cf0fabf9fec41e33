#!/usr/bin/env bash
# Makes sure the binaries the test suite starts its own servers from are installed: PostgreSQL
# (the pgserver wheel of the test extra, PostgreSQL 16 + pgvector; else the machine's initdb /
# postgres) and redis-server. The suite itself starts a throwaway PostgreSQL and Redis on free
# loopback ports in temporary folders and stops them (tests/testservices.py); this script starts
# nothing, and never reads or edits system configuration or a running server.
# Root (or sudo) is needed only to install a missing redis-server (Debian's redis-tools).
# Run after scripts/_env.sh (uses the .venv's python to find pgserver). Idempotent.
set -euo pipefail
PY="${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/}python"

if [ -z "${SONICMAP_TEST_REDIS_URL:-}" ] && ! command -v redis-server >/dev/null 2>&1 \
   && ! command -v redis-check-rdb >/dev/null 2>&1; then
  # Debian's redis-tools ships the server executable (as redis-check-rdb, which runs as a server
  # when started under the name redis-server) without a system service that would start at
  # install, unlike the redis-server package.
  echo "== redis-server is missing: installing Debian's redis-tools package (needs root)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends redis-tools >/dev/null
fi

if [ -z "${SONICMAP_TEST_PG_URL:-}" ]; then
  if ! "$PY" -c 'import sys; sys.path.insert(0, "tests"); import testservices as t; t.pg_bindir()' \
      2>/dev/null; then
    echo "error: no PostgreSQL binaries for the tests: install the test extra" \
         "(pip install -e '.[test]', brings pgserver) or Debian's postgresql package," \
         "or set SONICMAP_TEST_PG_URL to an existing server" >&2
    exit 1
  fi
fi
