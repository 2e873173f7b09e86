#!/usr/bin/env bash
# The benchmark, in one command: installs what is missing (the build's
# packages, Debian's libapache2-mod-wsgi-py3 as the reference, wrk), builds
# the module, makes a venv with Flask, and measures this module against the
# reference in embedded and daemon mode. Writes bench/RESULTS.md.
# Arguments go to bench/bench.py (e.g. --duration 5 --rounds 1 --workloads hello).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh libapache2-mod-wsgi-py3 wrk

# The venv must be readable by Apache's www-data children, so it lives under
# the temp directory, and it must come from Debian's Python, which both
# modules link.
venv=/tmp/mod_wsgi-rs-bench-venv
if [ ! -e "$venv/.complete" ]; then
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r bench/requirements.txt
    chmod -R a+rX "$venv"
    touch "$venv/.complete"
fi
exec /usr/bin/python3 bench/bench.py --venv "$venv" "$@"
