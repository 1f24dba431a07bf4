#!/bin/sh
# The container's entrypoint: lago-server with the container's defaults, as
# PID 1's only child (exec), so Docker's SIGTERM reaches it directly.
#
# Defaults (each can be overridden with the same environment variable):
#   LAGO_LISTEN=0.0.0.0:50051   all interfaces of the container
#   LAGO_DB=/data/lago.db       on the /data volume, with its -wal/-shm files
#   LAGO_SHUTDOWN_GRACE=8       calls in flight get 8 s; Docker's stop timeout is 10 s
# Plaintext on 0.0.0.0 needs TLS (LAGO_TLS_CERT, LAGO_TLS_KEY) or
# LAGO_ALLOW_INSECURE=true; the server refuses to start otherwise and says so.
# Arguments are passed on to lago-server (see lago-server --help).
set -eu
: "${LAGO_LISTEN:=0.0.0.0:50051}"
: "${LAGO_DB:=/data/lago.db}"
: "${LAGO_SHUTDOWN_GRACE:=8}"
export LAGO_LISTEN LAGO_DB LAGO_SHUTDOWN_GRACE
exec "${LAGO_SERVER_BIN:-lago-server}" "$@"
