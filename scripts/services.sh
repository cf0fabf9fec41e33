#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, trust auth for local connections) and Redis
# (127.0.0.1:6379) are running: starts them when installed but stopped, installs them from
# Debian's packages when absent (needs root or sudo). Idempotent.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${_APT_UPDATED:-}" ]; then $SUDO apt-get update -qq; _APT_UPDATED=1; fi
  $SUDO apt-get install -y -qq "$@" >/dev/null
}

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done
  echo "error: nothing is listening on 127.0.0.1:$1 after 30 s ($2)" >&2
  return 1
}

if ! port_open 5432; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "== installing PostgreSQL (Debian package)" >&2
    apt_install postgresql
  fi
  ver="$(ls /etc/postgresql | sort -V | tail -n 1)"
  hba="/etc/postgresql/$ver/main/pg_hba.conf"
  if ! $SUDO grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    # Local test server: trust loopback connections, as the project's tests expect.
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  echo "== starting PostgreSQL $ver" >&2
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  wait_port 5432 PostgreSQL
fi

if ! port_open 6379; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "== installing Redis (Debian package)" >&2
    apt_install redis-server
  fi
  echo "== starting Redis" >&2
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379 Redis
fi
