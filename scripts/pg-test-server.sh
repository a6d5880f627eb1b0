#!/usr/bin/env bash
# A throw-away PostgreSQL server on a free loopback port, for tests and CI.
#
#   scripts/pg-test-server.sh start DIR [--watch PID]
#       Creates DIR (it must not exist or be empty), initialises a cluster in it
#       and starts the server on 127.0.0.1 and a free port. Prints one line:
#       the URL of its `slipway` database, postgres://postgres@127.0.0.1:PORT/slipway.
#       With --watch PID, the server is stopped and DIR removed once PID exits
#       (so a test process killed with -9 leaves nothing running).
#   scripts/pg-test-server.sh stop DIR      stops the server and removes DIR
#   scripts/pg-test-server.sh url DIR       prints the URL of a running server
#   scripts/pg-test-server.sh pause DIR     stops the server, keeping its data and port
#   scripts/pg-test-server.sh resume DIR    starts a paused server again on the same port
#
# Needs PostgreSQL's server binaries (Debian: postgresql-15); PG_BIN overrides
# where they are looked for. initdb refuses to run as root, so as root the
# server runs as the `postgres` user. Loopback connections are trusted, except
# for members of the role password_users, which must give a password
# (scram-sha-256), so tests can check password handling. Durability is off (fsync, full page writes):
# the data is thrown away.
set -euo pipefail

die() { echo "pg-test-server: $*" >&2; exit 1; }

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then
    [ -x "$PG_BIN/initdb" ] || die "PostgreSQL's server programs (initdb, pg_ctl) are not installed in PG_BIN=$PG_BIN"
    echo "$PG_BIN"; return
  fi
  local d
  for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV) /usr/local/pgsql/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  done
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
  die "PostgreSQL's server programs (initdb, pg_ctl) are not installed (Debian: apt-get install postgresql-15)"
}

# as_owner CMD…: runs CMD as the cluster's owner (postgres when we are root).
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

run_server() {
  local bin=$1 dir=$2 port=$3
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
    "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=300" \
    start >/dev/null 2>&1
}

start() {
  local dir=$1 watch=${2:-}
  local bin; bin=$(find_bin)
  [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ] && die "$dir exists and is not empty"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs the postgres user (it comes with the postgresql package)"
    chown postgres: "$dir"
  fi
  chmod 700 "$dir"
  as_owner mkdir -p "$dir/sock"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  as_owner tee "$dir/data/pg_hba.conf" >/dev/null <<'EOF'
# TYPE  DATABASE  USER   ADDRESS        METHOD
local   all       all                   trust
host    all       +password_users  127.0.0.1/32  scram-sha-256
host    all       all    127.0.0.1/32   trust
EOF
  local port tries=0
  while :; do
    tries=$((tries + 1))
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    port_in_use "$port" && continue
    if run_server "$bin" "$dir" "$port"; then break; fi
    # Another process took the port between the check and the bind: try another.
    if [ $tries -ge 10 ] || ! grep -q "could not bind\|Address already in use\|could not create any TCP/IP sockets" "$dir/server.log" 2>/dev/null; then
      cat "$dir/server.log" >&2 2>/dev/null || true
      die "the server did not start"
    fi
  done
  echo "$port" >"$dir/port"
  as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt \
    -c "CREATE DATABASE slipway" -c "CREATE ROLE password_users NOLOGIN" >/dev/null
  if [ -n "$watch" ]; then
    # Detached from the caller's pipes and process group, so it neither holds
    # the caller's output open nor dies with it.
    # Every other descriptor it inherited (a caller's pipes, sockets) is closed too.
    setsid bash -c '
      for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ] && eval "exec $fd>&-"; done 2>/dev/null
      while kill -0 "$1" 2>/dev/null; do sleep 1; done
      "$0" stop "$2" >/dev/null 2>&1
    ' "$0" "$watch" "$dir" </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/watch.pid"
  fi
  url "$dir"
}

url() {
  local dir=$1
  [ -f "$dir/port" ] || die "no server in $dir"
  echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/slipway"
}

stop() {
  local dir=$1
  [ -d "$dir" ] || return 0
  if [ -f "$dir/watch.pid" ]; then
    local watcher; watcher=$(cat "$dir/watch.pid")
    [ "$watcher" != "$PPID" ] && kill "$watcher" 2>/dev/null || true
  fi
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$(find_bin)/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

pause() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] || die "no running server in $dir"
  as_owner "$(find_bin)/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
}

resume() {
  local dir=$1
  [ -f "$dir/port" ] || die "no server in $dir"
  run_server "$(find_bin)" "$dir" "$(cat "$dir/port")" || { tail -5 "$dir/server.log" >&2; die "the server did not start"; }
}

case ${1:-} in
  start) [ $# -ge 2 ] || die "usage: $0 start DIR [--watch PID]"
         if [ "${3:-}" = "--watch" ]; then start "$2" "${4:?--watch needs a PID}"; else start "$2"; fi ;;
  stop)  [ $# -ge 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  url)   [ $# -ge 2 ] || die "usage: $0 url DIR"; url "$2" ;;
  pause) [ $# -ge 2 ] || die "usage: $0 pause DIR"; pause "$2" ;;
  resume) [ $# -ge 2 ] || die "usage: $0 resume DIR"; resume "$2" ;;
  *) echo "usage: $0 start DIR [--watch PID] | stop DIR | url DIR | pause DIR | resume DIR" >&2; exit 2 ;;
esac
