#!/usr/bin/env bash
# Runs the whole test suite: formatting and lint checks, unit tests, and the
# integration tests, which start private Apache servers on loopback (as
# www-data) and drive them over HTTP. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# strace: tests watch for sendfile() (WSGIEnableSendfile); openssl makes
# the HTTPS tests' certificates; dpkg-dev (dpkg-shlibdeps) builds the .deb.
scripts/setup.sh strace openssl dpkg-dev

cargo fmt --all --check
cargo clippy --workspace --all-targets --release -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --release --no-fail-fast
else
    cargo test --workspace --release --no-fail-fast
fi
