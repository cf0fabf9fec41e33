#!/bin/sh
# Container entrypoint: migrate the database, then exec the role's command.
#
#   sonicmap-entrypoint api     [extra args for `sonicmap serve`]
#   sonicmap-entrypoint worker  [extra args for `sonicmap worker`]
#   sonicmap-entrypoint beat    [extra args for `sonicmap beat`]
#   sonicmap-entrypoint <any command...>     (run as given, no migration)
#
# Arguments are passed on as separate words ("$@"); no shell string is ever built from input.
# SONICMAP_MIGRATE=0 skips `sonicmap db upgrade`; SONICMAP_MIGRATE_TRIES (default 30, 2 s apart)
# bounds how long it waits for the database to come up.
set -eu

role="${1:-api}"
[ "$#" -gt 0 ] && shift

migrate() {
    [ "${SONICMAP_MIGRATE:-1}" = "0" ] && return 0
    tries="${SONICMAP_MIGRATE_TRIES:-30}"
    n=1
    while ! sonicmap db upgrade; do
        if [ "$n" -ge "$tries" ]; then
            echo "entrypoint: database still not reachable after $tries attempts; giving up" >&2
            exit 1
        fi
        echo "entrypoint: database not ready (attempt $n/$tries); retrying in 2 s" >&2
        n=$((n + 1))
        sleep 2
    done
}

case "$role" in
    api)
        migrate
        exec sonicmap serve --host "${SONICMAP_HOST:-0.0.0.0}" --port "${SONICMAP_PORT:-8000}" "$@"
        ;;
    worker)
        migrate
        exec sonicmap worker "$@"
        ;;
    beat)
        migrate
        exec sonicmap beat "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
