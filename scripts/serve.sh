#!/usr/bin/env bash
# Serves a WSGI script (default: examples/hello.wsgi) through this module in
# a real Apache, embedded mode, on http://127.0.0.1:8000/, in the
# foreground (Ctrl-C stops it). Extra arguments go to mod_wsgi-express,
# e.g. `scripts/serve.sh app.wsgi --port 8080 --mpm prefork`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
script=examples/hello.wsgi
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
    script=$1
    shift
fi
exec target/release/mod_wsgi-express start-server "$script" --port 8000 "$@"
