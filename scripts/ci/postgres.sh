#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on loopback for the PostgreSQL store and cluster tests.
#
#   eval "$(scripts/ci/postgres.sh start)"   # installs PostgreSQL if missing, starts it, prints the env to export
#   scripts/ci/postgres.sh stop               # stops the cluster named by BLOBHUB_REALTIME_TEST_POSTGRES_DATA, removes it
#
# Exports: BLOBHUB_REALTIME_TEST_POSTGRES_URL (postgres://…), BLOBHUB_REALTIME_TEST_POSTGRES_PG_CTL (the pg_ctl
# binary), BLOBHUB_REALTIME_TEST_POSTGRES_DATA (the data directory) and BLOBHUB_REALTIME_TEST_POSTGRES_RUN_AS (the
# user to run pg_ctl as, empty when not root): the restart tests stop and start the database with them.
set -euo pipefail

find_bin() {
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  local candidate
  for candidate in /usr/lib/postgresql/*/bin/"$name"; do
    if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

install_if_missing() {
  if find_bin initdb >/dev/null && find_bin pg_ctl >/dev/null; then return 0; fi
  echo "postgres.sh: installing PostgreSQL from Debian packages" >&2
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2
}

# Runs a command as the unprivileged `postgres` user when we are root (initdb refuses to run as root).
as_db_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() {
  install_if_missing
  local initdb pg_ctl port data run_as=""
  initdb=$(find_bin initdb)
  pg_ctl=$(find_bin pg_ctl)
  port=${BLOBHUB_REALTIME_TEST_POSTGRES_PORT:-$(free_port)}
  data=$(mktemp -d /tmp/blobhub-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$data" postgres
    chown postgres "$data"
    run_as=postgres
  fi
  as_db_user "$initdb" -D "$data/db" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
  # Loopback only; in the config file so that a plain `pg_ctl start` (the restart tests) comes back the same.
  # fsync stays on: the tests check that acknowledged events survive a restart.
  cat >> "$data/db/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
max_connections = 300
CONF
  as_db_user "$pg_ctl" -D "$data/db" -l "$data/log" -w -t 60 start >/dev/null
  echo "export BLOBHUB_REALTIME_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:$port/postgres'"
  echo "export BLOBHUB_REALTIME_TEST_POSTGRES_PG_CTL='$pg_ctl'"
  echo "export BLOBHUB_REALTIME_TEST_POSTGRES_DATA='$data/db'"
  echo "export BLOBHUB_REALTIME_TEST_POSTGRES_RUN_AS='$run_as'"
}

stop() {
  local data=${BLOBHUB_REALTIME_TEST_POSTGRES_DATA:?set BLOBHUB_REALTIME_TEST_POSTGRES_DATA}
  local pg_ctl=${BLOBHUB_REALTIME_TEST_POSTGRES_PG_CTL:-$(find_bin pg_ctl)}
  as_db_user "$pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$(dirname "$data")"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
