#!/usr/bin/env bash
# One command from a fresh Debian 12 clone: install what is missing, build,
# start lago-server on data/lago.db, run the demo client (it optimises a sample
# function and prints its progress and the best point), then stop the server.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
./deploy/build.sh

mkdir -p data
port_file=$(mktemp)
rm -f "$port_file"
build/server/lago-server --listen=127.0.0.1:0 --db=data/lago.db --port-file="$port_file" \
  --log-level=warning &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$port_file"' EXIT
for _ in $(seq 1 300); do
  [ -s "$port_file" ] && break
  kill -0 $server 2>/dev/null || { echo "run-demo: lago-server did not start" >&2; exit 1; }
  sleep 0.1
done
address="127.0.0.1:$(cat "$port_file")"
echo "run-demo: lago-server is serving on $address with database data/lago.db"
PYTHONPATH=build/python /usr/bin/python3 examples/demo.py --address "$address"
