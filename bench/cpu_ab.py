"""Paired A/B of two builds of this module by CPU time per request, which
noisy neighbours disturb far less than throughput: each round starts a
private Apache with each build (alternating which goes first), warms it
up, then runs wrk for 5 s and adds up the CPU time the server's processes
(parent, children, daemons) used. Prints microseconds per request for
both and the new/old ratio per round (above 1: the new build costs more).

    /usr/bin/python3 bench/cpu_ab.py embedded|daemon ROUNDS OLD.so [NEW.so]

Needs the venv bench/run.sh makes (/tmp/mod_wsgi-rs-bench-venv).
"""
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(server):
    """CPU time of the server's parent and every process it started."""
    children, daemons = server.processes()
    total = 0
    for pid in [server.parent, *children, *daemons]:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def main():
    mode, rounds = sys.argv[1], int(sys.argv[2])
    mods = {
        "old": Path(sys.argv[3]),
        "new": Path(sys.argv[4]) if len(sys.argv) > 4 else REPO / "target/release/libmod_wsgi.so",
    }
    per_request = {"old": [], "new": []}
    for r in range(rounds):
        for name in (["old", "new"] if r % 2 == 0 else ["new", "old"]):
            server = bench.Server("ours", mode, Path("/tmp/mod_wsgi-rs-bench-venv"), mods[name])
            server.start()
            try:
                url = f"http://127.0.0.1:{server.port}/hello"
                subprocess.run(["wrk", "-t2", "-c16", "-d2s", url], capture_output=True)
                before = cpu_seconds(server)
                run = subprocess.run(["wrk", "-t2", "-c16", "-d5s", url], capture_output=True, text=True)
                used = cpu_seconds(server) - before
                requests = int(re.search(r"(\d+) requests in", run.stdout).group(1))
                per_request[name].append(used / requests * 1e6)
            finally:
                server.stop()
                server.cleanup()
    for name, values in per_request.items():
        print(mode, name, "CPU us/request", [round(v, 1) for v in values],
              "median", round(statistics.median(values), 1))
    ratios = [n / o for o, n in zip(per_request["old"], per_request["new"])]
    print(mode, "new/old CPU per request", [round(x, 3) for x in ratios],
          "median", round(statistics.median(ratios), 3))


main()
