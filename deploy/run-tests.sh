#!/usr/bin/env bash
# One command from a fresh Debian 12 clone: install what is missing, build, and
# run every test (C++ unit and server tests, Python client, CLI and restart tests).
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
./deploy/build.sh
cd build
ctest --output-on-failure -j 2 --timeout 600
