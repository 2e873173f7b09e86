#!/usr/bin/env bash
# Builds the Debian package of the module into target/debian/:
# libapache2-mod-wsgi-rs_<version>_<arch>.deb, with
# /etc/apache2/mods-available/wsgi_rs.{load,conf} for a2enmod. Installs
# what it needs (the build packages, cargo-deb) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dpkg-dev

if ! cargo deb --version >/dev/null 2>&1; then
    echo "deb: installing cargo-deb" >&2
    cargo install cargo-deb --locked --quiet
fi

# The package says which Apache module API it needs; make sure the headers
# it is built against have that one.
declared=$(sed -n 's/^depends = .*apache2-api-\([0-9]*\).*/\1/p' Cargo.toml)
mmn_header=$(apxs -q INCLUDEDIR)/ap_mmn.h
built=$(sed -n 's/^#define MODULE_MAGIC_NUMBER_MAJOR \([0-9]*\).*/\1/p' "$mmn_header")
if [ "$declared" != "$built" ]; then
    echo "deb: Cargo.toml declares apache2-api-$declared but $mmn_header is $built" >&2
    exit 1
fi

export PYO3_PYTHON=/usr/bin/python3
cargo deb --quiet "$@"
ls -1 "${CARGO_TARGET_DIR:-target}"/debian/*.deb
