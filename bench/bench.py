#!/usr/bin/python3
"""Benchmark: this module against Debian's mod_wsgi (the reference) in
embedded and daemon mode, on the same Apache with the same configuration.

Every measurement starts a fresh private Apache (clean environment, server
root under the temp directory, a free port on 127.0.0.1), warms it up,
runs wrk against it, samples the peak RSS of its processes and stops it.
Rounds are interleaved: each round measures every workload for every
(mode, module) pair, alternating which module goes first, and the report
takes the median of the rounds for req/s, the largest peak RSS, and the
latency percentiles of all requests of all rounds together (wrk's latency
histogram of every round, merged): a single round's p99 depends on how the
scheduler treated those ten seconds and varies by 2x between rounds of the
same module, so the median of a few per-round p99s flips between runs.

Run through bench/run.sh, which installs what is missing and builds the
module first.
"""

import argparse
import datetime
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
APPS = REPO / "bench" / "apps"
OURS = REPO / "target" / "release" / "libmod_wsgi.so"
REFERENCE = Path("/usr/lib/apache2/modules/mod_wsgi.so")
APACHE = "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
MODULE_NAMES = {"ours": "mod_wsgi-rs", "reference": "mod_wsgi 4.9.4"}

UPLOAD_LUA = """wrk.method = "POST"
wrk.body = string.rep("u", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
"""


class Workload(NamedTuple):
    path: str
    description: str
    # Lua that sets up wrk's request; empty for a plain GET
    request_lua: str = ""
    # One wrk thread per connection instead of --threads. A wrk thread
    # reads a connection for as long as it stays readable, so with several
    # connections per thread a multi-megabyte response makes that thread's
    # other connections wait, and the client, not the server, sets the tail
    # (docs/performance.md, "The 10 MiB tail was wrk's").
    thread_per_connection: bool = False


WORKLOADS = {
    "hello": Workload("/hello", "hello world (12 bytes)"),
    "64k": Workload("/payload/64k", "64 KiB response"),
    "10m": Workload("/payload/10m", "10 MiB response", thread_per_connection=True),
    "upload": Workload("/upload", "1 MiB upload", request_lua=UPLOAD_LUA),
    "flask": Workload("/flask/json", "Flask JSON endpoint"),
}
MODES = ["embedded", "daemon"]
IMPLEMENTATIONS = ["ours", "reference"]


# Appended to every workload's script: prints wrk's latency histogram
# (microseconds, count) so that rounds can be merged.
HISTOGRAM_LUA = """
done = function(summary, latency, requests)
  local parts = {}
  for i = 1, #latency do
    local value, count = latency(i)
    parts[#parts + 1] = string.format("%d:%d", value, count)
  end
  io.write("latency-histogram " .. table.concat(parts, " ") .. "\\n")
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def httpd_conf(root, port, implementation, mode, venv, ours=OURS):
    module = ours if implementation == "ours" else REFERENCE
    lines = [
        f'ServerRoot "{root}"',
        "ServerName 127.0.0.1",
        f"Listen 127.0.0.1:{port}",
        f'PidFile "{root}/run/httpd.pid"',
        f'DefaultRuntimeDir "{root}/run"',
        f'Mutex "file:{root}/run" default',
        f'ErrorLog "{root}/logs/error_log"',
        "LogLevel warn",
        "User www-data",
        "Group www-data",
        f"LoadModule mpm_event_module {MODULES}/mod_mpm_event.so",
        f"LoadModule authz_core_module {MODULES}/mod_authz_core.so",
        "StartServers 2",
        "ServerLimit 4",
        "ThreadsPerChild 25",
        "MaxRequestWorkers 100",
        "MinSpareThreads 25",
        "MaxSpareThreads 75",
        "KeepAlive On",
        "MaxKeepAliveRequests 0",
        f'LoadModule wsgi_module "{module}"',
        f'WSGIPythonHome "{venv}"',
        f'WSGISocketPrefix "{root}/run/wsgi"',
        # As in Debian's apache2.conf: no .htaccess lookups.
        "<Directory />",
        "  AllowOverride None",
        "</Directory>",
        f'<Directory "{root}/apps">',
        "  Require all granted",
        "</Directory>",
    ]
    options = "application-group=%{GLOBAL}"
    if mode == "daemon":
        lines.append(
            "WSGIDaemonProcess bench processes=2 threads=15 display-name=%{GROUP}"
        )
        options = "process-group=bench " + options
    aliases = [
        ("/hello", "hello.wsgi"),
        ("/payload", "payload.wsgi"),
        ("/upload", "upload.wsgi"),
        ("/flask", "flask_app.wsgi"),
    ]
    for url, script in aliases:
        lines.append(f'WSGIScriptAlias {url} "{root}/apps/{script}" {options}')
    return "\n".join(lines) + "\n"


class Server:
    """One private Apache with one of the two modules."""

    def __init__(self, implementation, mode, venv, ours=OURS):
        self.root = Path(tempfile.mkdtemp(prefix="mod_wsgi-bench-"))
        os.chmod(self.root, 0o755)
        for sub in ["run", "logs"]:
            (self.root / sub).mkdir()
            os.chmod(self.root / sub, 0o755)
        shutil.copytree(APPS, self.root / "apps")
        for path in (self.root / "apps").iterdir():
            os.chmod(path, 0o644)
        os.chmod(self.root / "apps", 0o755)
        for workload, spec in WORKLOADS.items():
            (self.root / f"{workload}.lua").write_text(spec.request_lua + HISTOGRAM_LUA)
        self.port = free_port()
        self.conf = self.root / "httpd.conf"
        self.conf.write_text(httpd_conf(self.root, self.port, implementation, mode, venv, ours))
        self.parent = None

    def apache(self, action):
        return subprocess.run(
            ["env", "-i", *[f"{k}={v}" for k, v in CLEAN_ENV.items()], APACHE,
             "-d", str(self.root), "-f", str(self.conf), "-k", action],
            capture_output=True, text=True,
        )

    def start(self):
        result = self.apache("start")
        if result.returncode != 0:
            raise RuntimeError(f"apache did not start: {result.stdout}{result.stderr}")
        pid_file = self.root / "run" / "httpd.pid"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.parent = int(pid_file.read_text().strip())
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except (OSError, ValueError):
                time.sleep(0.05)
        raise RuntimeError(f"apache did not answer on port {self.port}:\n{self.error_log()}")

    def processes(self):
        """(Apache children, daemon processes) of this server: pids."""
        children, daemons = [], []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != self.parent:
                continue
            if cmdline.startswith(b"(wsgi:"):
                daemons.append(int(entry.name))
            else:
                children.append(int(entry.name))
        return children, daemons

    def stop(self):
        if self.parent is None:
            return
        everyone = [self.parent, *sum(self.processes(), [])]
        try:
            os.kill(self.parent, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(alive(p) for p in everyone):
            time.sleep(0.05)
        for pid in everyone:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.parent = None

    def error_log(self):
        try:
            return (self.root / "logs" / "error_log").read_text()
        except OSError:
            return ""

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is gone for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def peak_rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def percentile(histogram, p):
    """wrk's percentile over a {microseconds: count} histogram, in ms."""
    total = sum(histogram.values())
    rank = round(p / 100 * total + 0.5)
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value / 1000
    return max(histogram) / 1000


def merged(histograms):
    total = {}
    for histogram in histograms:
        for value, count in histogram.items():
            total[value] = total.get(value, 0) + count
    return total


def wrk_threads(workload, threads, connections):
    """wrk's thread count for `workload` (see Workload.thread_per_connection)."""
    return connections if WORKLOADS[workload].thread_per_connection else threads


def wrk(server, workload, duration, threads, connections):
    path = WORKLOADS[workload].path
    threads = wrk_threads(workload, threads, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
               "-s", str(server.root / f"{workload}.lua"),
               f"http://127.0.0.1:{server.port}{path}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    match = re.search(r"^latency-histogram (.*)$", output, re.M)
    histogram = {}
    for pair in (match.group(1).split() if match else []):
        value, count = pair.split(":")
        histogram[int(value)] = histogram.get(int(value), 0) + int(count)
    if not histogram:
        # wrk records no latency when no request completed.
        raise RuntimeError(f"wrk reported no latencies for {workload}:\n{output}\n"
                           f"--- error_log ---\n{server.error_log()[-3000:]}")
    errors = 0
    detail = "; ".join(line.strip() for line in output.splitlines()
                       if "Non-2xx" in line or "Socket errors" in line)
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if match:
        errors += int(match.group(1))
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if match:
        errors += sum(int(n) for n in match.groups())
    return {
        "rps": rate,
        "p50": percentile(histogram, 50),
        "p99": percentile(histogram, 99),
        "histogram": histogram,
        "errors": errors,
        "error_detail": detail,
    }


def check_response(server, workload):
    """One request with curl: the workload must answer 200 with its body."""
    path = WORKLOADS[workload].path
    url = f"http://127.0.0.1:{server.port}{path}"
    command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}"]
    if workload == "upload":
        command += ["--data-binary", "@-", "-H", "Content-Type: application/octet-stream"]
    result = subprocess.run(command + [url], capture_output=True, text=True,
                            input="u" * 1048576 if workload == "upload" else None)
    status, size = result.stdout.split()
    if status != "200":
        raise RuntimeError(f"{workload}: {url} answered {status}:\n{server.error_log()}")
    return int(size)


def measure(implementation, mode, workload, venv, args):
    server = Server(implementation, mode, venv, args.ours)
    try:
        server.start()
        check_response(server, workload)
        wrk(server, workload, args.warmup, args.threads, args.connections)
        result = wrk(server, workload, args.duration, args.threads, args.connections)
        children, daemons = server.processes()
        result["rss_children"] = peak_rss_kib(children)
        result["rss_daemons"] = peak_rss_kib(daemons)
        result["children"] = len(children)
        if "Segmentation fault" in server.error_log() or "exit signal" in server.error_log():
            raise RuntimeError(f"a process crashed:\n{server.error_log()}")
        return result
    finally:
        server.stop()
        server.cleanup()


def machine():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Linux {platform.release()}"


def commit():
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return head + (" (with uncommitted changes)" if dirty else "")


def ratio(ours, reference):
    return ours / reference if reference else float("nan")


def report(results, args, started):
    """The Markdown report: one row per workload and mode."""
    lines = [
        "# Benchmark results",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        f"- Commit: {commit()}"
        + ("" if args.ours == OURS else f"; this module measured from {args.ours}"),
        f"- Apache: {apache_version()}, event MPM; reference: Debian's "
        "libapache2-mod-wsgi-py3 4.9.4; Python "
        f"{platform.python_version()} (Debian's)",
        f"- wrk -t{args.threads} -c{args.connections} -d{args.duration}s on loopback "
        f"(after {args.warmup} s of warm-up), {args.rounds} interleaved rounds; "
        "req/s is the median of the rounds, p50 and p99 are over every request of "
        "every round (wrk's latency histograms merged), RSS is the largest peak",
        *[f"- {WORKLOADS[w].description}: wrk "
          f"-t{wrk_threads(w, args.threads, args.connections)}, one thread per "
          "connection (a wrk thread reads one connection until it runs dry, so "
          "connections sharing a thread wait for each other's whole response)"
          for w in args.workloads if WORKLOADS[w].thread_per_connection],
        "- Daemon mode: `WSGIDaemonProcess bench processes=2 threads=15`; both modes "
        "`application-group=%{GLOBAL}`",
        "- RSS: sum of the peak resident set (VmHWM) of Apache's children, and of "
        "the daemon processes",
        "- p99 lower: in how many rounds ours had the lower p99, each round's two "
        "measurements being next to each other in time (a paired comparison, which "
        "one noisy round moves by one, where it can move the pooled p99 a lot)",
        "",
        "| workload | mode | req/s ours | req/s ref | ratio | p50 ms ours / ref | "
        "p99 ms ours / ref | p99 ratio | p99 lower | children RSS MiB ours / ref | "
        "daemons RSS MiB ours / ref | errors ours / ref |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    summary = {}
    for workload in args.workloads:
        for mode in args.modes:
            rows = {impl: results[(impl, mode, workload)] for impl in IMPLEMENTATIONS}
            figures = {}
            for impl in IMPLEMENTATIONS:
                pooled = merged(r["histogram"] for r in rows[impl])
                figures[impl] = {
                    "rps": statistics.median(r["rps"] for r in rows[impl]),
                    "p50": percentile(pooled, 50),
                    "p99": percentile(pooled, 99),
                }
            peak = {
                impl: {key: max(r[key] for r in rows[impl]) / 1024
                       for key in ("rss_children", "rss_daemons")}
                for impl in IMPLEMENTATIONS
            }
            errors = {impl: sum(r["errors"] for r in rows[impl]) for impl in IMPLEMENTATIONS}
            pairs = list(zip(rows["ours"], rows["reference"]))
            lower = sum(ours["p99"] < ref["p99"] for ours, ref in pairs)
            o, r = figures["ours"], figures["reference"]
            summary[(workload, mode)] = {
                "rps_ratio": ratio(o["rps"], r["rps"]),
                "p99_ratio": ratio(o["p99"], r["p99"]),
                "rss_children": peak["ours"]["rss_children"],
                "rss_daemons": peak["ours"]["rss_daemons"],
            }
            daemons = (
                f"{peak['ours']['rss_daemons']:.1f} / {peak['reference']['rss_daemons']:.1f}"
                if mode == "daemon" else "—"
            )
            lines.append(
                f"| {WORKLOADS[workload].description} | {mode} | {o['rps']:.0f} | {r['rps']:.0f} | "
                f"**{ratio(o['rps'], r['rps']):.2f}** | {o['p50']:.2f} / {r['p50']:.2f} | "
                f"{o['p99']:.2f} / {r['p99']:.2f} | {ratio(o['p99'], r['p99']):.2f} | "
                f"{lower} of {len(pairs)} | "
                f"{peak['ours']['rss_children']:.1f} / {peak['reference']['rss_children']:.1f} | "
                f"{daemons} | {errors['ours']} / {errors['reference']} |"
            )
    lines += ["", "## Targets (issue #5)", ""]
    lines += targets(summary, args)
    lines += ["", "Every single round:", "", "| workload | mode | module | round | req/s | "
              "p50 ms | p99 ms | children | children RSS MiB | daemons RSS MiB |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for workload in args.workloads:
        for mode in args.modes:
            for impl in IMPLEMENTATIONS:
                for number, r in enumerate(results[(impl, mode, workload)], 1):
                    lines.append(
                        f"| {workload} | {mode} | {impl} | {number} | {r['rps']:.0f} | "
                        f"{r['p50']:.2f} | {r['p99']:.2f} | {r['children']} | "
                        f"{r['rss_children'] / 1024:.1f} | {r['rss_daemons'] / 1024:.1f} |"
                    )
    return "\n".join(lines) + "\n"


def targets(summary, args):
    lines = []

    def line(ok, text):
        lines.append(f"- {'met' if ok else '**not met**'}: {text}")

    for mode, wanted in [("embedded", 1.2), ("daemon", 1.6)]:
        if ("hello", mode) in summary:
            got = summary[("hello", mode)]["rps_ratio"]
            line(got >= wanted, f"{mode} hello world ≥ {wanted}× the reference: {got:.2f}×")
    worst = [(key, value["p99_ratio"]) for key, value in summary.items()]
    if worst:
        key, value = max(worst, key=lambda kv: kv[1])
        line(value <= 1.0, f"p99 no worse than the reference in any workload: worst "
                           f"{value:.2f}× ({key[0]}, {key[1]})")
    for mode in args.modes:
        if ("hello", mode) in summary and ("10m", mode) in summary:
            for what in ["rss_children"] + (["rss_daemons"] if mode == "daemon" else []):
                small, big = summary[("hello", mode)][what], summary[("10m", mode)][what]
                # Children vary in number with load; allow 8 MiB of noise.
                line(big - small <= 8, f"{mode} {what.replace('_', ' ')} does not grow with "
                                       f"body size: {small:.1f} MiB (hello) → {big:.1f} MiB (10 MiB)")
    return lines


def apache_version():
    output = subprocess.run([APACHE, "-v"], capture_output=True, text=True,
                            env=CLEAN_ENV).stdout
    match = re.search(r"Apache/[\d.]+", output)
    return match.group(0) if match else "Apache"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", required=True, help="venv with Flask, made from /usr/bin/python3")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2,
                        help="wrk threads (the 10 MiB workload uses one per connection)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated subset of " + ",".join(WORKLOADS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--output", default=str(REPO / "bench" / "RESULTS.md"))
    parser.add_argument("--ours", type=Path, default=OURS,
                        help="this module's build to measure (e.g. an older one, to see what "
                             "a change costs)")
    args = parser.parse_args()
    args.workloads = [w for w in args.workloads.split(",") if w]
    args.modes = [m for m in args.modes.split(",") if m]
    for workload in args.workloads:
        if workload not in WORKLOADS:
            parser.error(f"unknown workload {workload}")
    for mode in args.modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode}")
    if os.geteuid() != 0:
        parser.error("run as root: Apache starts as root and switches to www-data")
    for path in [args.ours, REFERENCE]:
        if not path.exists():
            parser.error(f"{path} is missing (bench/run.sh builds and installs it)")

    started = datetime.datetime.now(datetime.timezone.utc)
    results = {}
    total = args.rounds * len(args.workloads) * len(args.modes) * len(IMPLEMENTATIONS)
    done = 0
    for round_number in range(args.rounds):
        order = IMPLEMENTATIONS if round_number % 2 == 0 else IMPLEMENTATIONS[::-1]
        for workload in args.workloads:
            for mode in args.modes:
                for impl in order:
                    done += 1
                    try:
                        result = measure(impl, mode, workload, args.venv, args)
                    except RuntimeError as error:
                        # Reported, then measured again once on a fresh server.
                        print(f"measurement failed, repeating it: {error}", flush=True)
                        result = measure(impl, mode, workload, args.venv, args)
                    results.setdefault((impl, mode, workload), []).append(result)
                    print(f"[{done}/{total}] round {round_number + 1} {workload:6} {mode:8} "
                          f"{MODULE_NAMES[impl]:14} {result['rps']:9.0f} req/s  "
                          f"p50 {result['p50']:7.2f} ms  p99 {result['p99']:7.2f} ms  "
                          f"RSS children {result['rss_children'] / 1024:6.1f} MiB  "
                          f"daemons {result['rss_daemons'] / 1024:6.1f} MiB"
                          + (f"  ERRORS {result['errors']} ({result['error_detail']})"
                             if result["errors"] else ""),
                          flush=True)
    text = report(results, args, started)
    Path(args.output).write_text(text)
    print()
    print(text)
    print(f"written to {args.output}")


if __name__ == "__main__":
    sys.exit(main())
