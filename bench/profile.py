#!/usr/bin/python3
"""Profiles one workload with perf: starts a private Apache with one of the
modules (as bench.py does), runs wrk against it while `perf record`
samples Apache's children and daemon processes, and prints `perf report`.

    bench/profile.py --venv /tmp/mod_wsgi-rs-bench-venv hello daemon [ours|reference]
"""

import argparse
import subprocess
import sys
import threading

import bench


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--venv", required=True)
    parser.add_argument("workload", choices=list(bench.WORKLOADS))
    parser.add_argument("mode", choices=bench.MODES)
    parser.add_argument("implementation", nargs="?", default="ours",
                        choices=bench.IMPLEMENTATIONS)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--output", default="/tmp/mod_wsgi-bench-perf.data")
    parser.add_argument("--report-args", default="--no-children --percent-limit 0.7 --stdio",
                        help="arguments for perf report")
    args = parser.parse_args()
    server = bench.Server(args.implementation, args.mode, args.venv)
    try:
        server.start()
        bench.check_response(server, args.workload)
        bench.wrk(server, args.workload, 2, args.threads, args.connections)
        children, daemons = server.processes()
        pids = ",".join(str(p) for p in children + daemons)
        perf = subprocess.Popen(["perf", "record", "-g", "-o", args.output, "-p", pids,
                                 "--", "sleep", str(args.duration)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = {}
        load = threading.Thread(target=lambda: result.update(
            bench.wrk(server, args.workload, args.duration, args.threads, args.connections)))
        load.start()
        perf.wait()
        load.join()
        print(f"{args.workload} {args.mode} {args.implementation}: {result}", file=sys.stderr)
    finally:
        server.stop()
        server.cleanup()
    subprocess.run(["perf", "report", "-i", args.output, *args.report_args.split()])


if __name__ == "__main__":
    main()
