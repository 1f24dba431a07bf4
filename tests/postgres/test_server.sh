#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests of the PostgreSQL study store.
#
#   test_server.sh start STATE_DIR   initdb in a new folder under /tmp, start
#                                     the server on a free loopback port and
#                                     write its connection URI to
#                                     STATE_DIR/uri
#   test_server.sh stop STATE_DIR    stop it and remove its folder
#
# The server trusts local connections of the user "lago" and has no password.
# initdb refuses to run as root, so as root the server runs as the "postgres"
# user that Debian's postgresql package creates.
set -euo pipefail

action=${1:?usage: test_server.sh start|stop STATE_DIR}
state=${2:?usage: test_server.sh start|stop STATE_DIR}

bindir=""
for candidate in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
  if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
    bindir=$candidate
    break
  fi
done
if [ -z "$bindir" ]; then
  echo "test_server.sh: no PostgreSQL server (initdb, pg_ctl); install Debian's postgresql" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$action" in
  start)
    mkdir -p "$state"
    if [ -f "$state/datadir" ]; then "$0" stop "$state" || true; fi
    dir=$(mktemp -d /tmp/lago-pg.XXXXXX)
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    echo "$dir" > "$state/datadir"
    as_owner "$bindir/initdb" -D "$dir/data" -U lago --auth=trust -E UTF8 \
      --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    # A free port: bind port 0 and read what the kernel gave.
    port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c max_connections=200" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgresql://lago@127.0.0.1:$port/postgres" > "$state/uri"
    echo "test_server.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on port $port, data in $dir"
    ;;
  stop)
    [ -f "$state/datadir" ] || exit 0
    dir=$(cat "$state/datadir")
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir" "$state/datadir" "$state/uri"
    ;;
  *)
    echo "test_server.sh: unknown action $action (start or stop)" >&2
    exit 2
    ;;
esac
