"""Paired A/B of two builds of this module on hello world (no reference):
each round starts a private Apache with each build, alternating which goes
first, and runs wrk for 5 s after a 1 s warm-up. Prints both series and
the new/old ratio per round.

    /usr/bin/python3 bench/ab.py embedded|daemon ROUNDS OLD.so [NEW.so]

Needs the venv bench/run.sh makes (/tmp/mod_wsgi-rs-bench-venv).
"""
import re
import statistics
import subprocess
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench
REPO = Path(__file__).resolve().parent.parent
mods = {
    "old": Path(sys.argv[3]),
    "new": Path(sys.argv[4]) if len(sys.argv) > 4 else REPO / "target/release/libmod_wsgi.so",
}
mode = sys.argv[1]
rounds = int(sys.argv[2])
res = {"old": [], "new": []}
for r in range(rounds):
    order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
    for name in order:
        s = bench.Server("ours", mode, Path("/tmp/mod_wsgi-rs-bench-venv"), mods[name])
        s.start()
        try:
            url = f"http://127.0.0.1:{s.port}/hello"
            subprocess.run(["wrk", "-t2", "-c16", "-d1s", url], capture_output=True)
            w = subprocess.run(["wrk", "-t2", "-c16", "-d5s", url], capture_output=True, text=True)
            m = re.search(r"Requests/sec:\s+([\d.]+)", w.stdout)
            res[name].append(float(m.group(1)))
        finally:
            s.stop(); s.cleanup()
for name in res:
    print(mode, name, [round(x) for x in res[name]], "median", round(statistics.median(res[name])))
pairs = [n / o for o, n in zip(res["old"], res["new"])]
print(mode, "new/old per round", [round(p, 3) for p in pairs], "median", round(statistics.median(pairs), 3))
