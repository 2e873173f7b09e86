#!/usr/bin/env bash
# Serves a WSGI script (default: examples/hello.wsgi) through this module in
# a real Apache, in daemon mode, on http://127.0.0.1:8000/, in the
# foreground with its logs on the terminal (Ctrl-C stops it). Extra
# arguments go to mod_wsgi-express start-server, e.g.
# `scripts/serve.sh app.wsgi --port 8080 --embedded-mode`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
script=examples/hello.wsgi
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
    script=$1
    shift
fi
exec target/release/mod_wsgi-express start-server "$script" --host 127.0.0.1 --port 8000 \
    --log-to-terminal --access-log "$@"
