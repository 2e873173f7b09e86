#!/usr/bin/env bash
# Prepares a Debian 12 machine that has only Rust: installs the system
# packages the build and the tests need (when missing) and builds the
# module in release mode. Safe to run again. Arguments name more Debian
# packages to install when missing (bench/run.sh adds the reference module
# and wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(apache2 apache2-dev libclang-dev python3-dev python3-venv curl "$@")
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    # Installing apache2 must not start Debian's own server on port 80: a
    # policy-rc.d that refuses service starts is in place for the install.
    policy=/usr/sbin/policy-rc.d
    added_policy=no
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        added_policy=yes
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
    if [ "$added_policy" = yes ]; then "${sudo[@]}" rm -f "$policy"; fi
fi

# The module must link Debian's Python, which Apache's www-data children can
# read (also set in .cargo/config.toml).
export PYO3_PYTHON=/usr/bin/python3
cargo build --release
