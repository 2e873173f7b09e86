#!/usr/bin/env bash
# Runs mod_wsgi's own integration suite (its scripts/run-tests.sh and
# tests/, from a checkout of GrahamDumpleton/mod_wsgi given by path) against
# this module. The suite builds its server with mod_wsgi 6.0.5's
# `mod_wsgi-express setup-server` (installed from PyPI into the suite's
# .venv); a wrapper around that command swaps this module into the
# generated LoadModule line and changes nothing else. Prints the suite's
# "Results: N passed, M failed" line; exits with the suite's status.
#
#   scripts/mod_wsgi-suite.sh /path/to/mod_wsgi [tests/wsgi/NAME ...]
#
# The suite is not ours and is not copied into this repository: it runs
# from a scratch copy of the checkout under /tmp, as www-data (mod_wsgi-
# express will not run Apache as root without --user), on the fixed ports
# it uses (9876, 9877), which must be free. MOD_WSGI_SUITE_EXPRESS sets
# the mod_wsgi version whose express builds the server (default 6.0.5);
# MOD_WSGI_SUITE_MODULE another module to swap in instead of this one (for
# instance Debian's /usr/lib/apache2/modules/mod_wsgi.so, to compare).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

if [ $# -lt 1 ] || [ ! -f "$1/scripts/run-tests.sh" ]; then
    echo "usage: $0 /path/to/mod_wsgi-checkout [tests/wsgi/NAME ...]" >&2
    exit 2
fi
checkout="$(cd "$1" && pwd)"
shift
express_version="${MOD_WSGI_SUITE_EXPRESS:-6.0.5}"

# lsof and openssl: the suite's own helpers use them.
"$here/scripts/setup.sh" lsof openssl
module="${MOD_WSGI_SUITE_MODULE:-$here/target/release/libmod_wsgi.so}"

for port in 9876 9877; do
    if ! /usr/bin/python3 -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $port))" 2>/dev/null; then
        echo "$0: port $port is in use; the suite needs it (and would kill what holds it)" >&2
        exit 2
    fi
done

work="$(mktemp -d /tmp/mod_wsgi-suite.XXXXXX)"
chmod 755 "$work"
cleanup() {
    # The suite stops its own server; a server left by an interrupted run
    # is stopped through its pid file, never by name.
    if [ -f "$work/httpd-tests/httpd.pid" ]; then
        kill "$(cat "$work/httpd-tests/httpd.pid")" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

cp -a "$checkout/scripts" "$checkout/tests" "$work/"
cp "$module" "$work/mod_wsgi-rs.so"
/usr/bin/python3 -m venv "$work/.venv"
"$work/.venv/bin/pip" install --disable-pip-version-check --no-input -q \
    "mod_wsgi==$express_version"

express="$work/.venv/bin/mod_wsgi-express"
mv "$express" "$express.orig"
cat > "$express" <<EOF
#!/usr/bin/env bash
# mod_wsgi-express, then (for setup-server) this module in the generated
# LoadModule line instead of mod_wsgi's.
set -e
"\$(dirname "\$0")/mod_wsgi-express.orig" "\$@"
if [ "\${1:-}" = setup-server ]; then
    root=""
    previous=""
    for arg in "\$@"; do
        if [ "\$previous" = --server-root ]; then root="\$arg"; fi
        case "\$arg" in --server-root=*) root="\${arg#--server-root=}" ;; esac
        previous="\$arg"
    done
    sed -i "s|^LoadModule wsgi_module .*|LoadModule wsgi_module '$work/mod_wsgi-rs.so'|" "\$root/httpd.conf"
fi
EOF
chmod 755 "$express"
chown -R www-data:www-data "$work"

cd "$work"
if [ $# -gt 0 ]; then
    tests=("$@")
else
    mapfile -t tests < <(cd "$work" && find tests -name '*.sh' -type f | sort | sed 's/\.sh$//')
fi
total_pass=0
total_fail=0
incomplete=()
for test in "${tests[@]}"; do
    log="$work/$(basename "$test").log"
    runuser -u www-data -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" LANG=C.UTF-8 \
        bash scripts/run-tests.sh "$test" >"$log" 2>&1 || true
    results=$(grep -E '^Results: [0-9]+ passed, [0-9]+ failed' "$log" || true)
    if [ -n "$results" ]; then
        pass=$(echo "$results" | sed -E 's/^Results: ([0-9]+) passed.*/\1/')
        fail=$(echo "$results" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        note=""
    else
        # Stopped before its summary: count what it printed.
        pass=$(grep -c '^  PASS:' "$log" || true)
        fail=$(grep -c '^  FAIL:' "$log" || true)
        incomplete+=("$test")
        note=" (stopped early: the suite's set -e; last lines below)"
    fi
    printf '%-36s %3d passed, %3d failed%s\n' "$test" "$pass" "$fail" "$note"
    # The failures as the suite listed them while running (before its
    # summary repeats them).
    sed -n '/^Results:/q;/^  FAIL:/p' "$log" | sed 's/^/      /' || true
    if [ -n "$note" ]; then tail -3 "$log" | sed 's/^/      | /'; fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
done
echo "Total: $total_pass passed, $total_fail failed (${#incomplete[@]} file(s) stopped early: ${incomplete[*]:-none})"
[ "$total_fail" -eq 0 ] && [ ${#incomplete[@]} -eq 0 ]
