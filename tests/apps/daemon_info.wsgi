# Reports who and where the process serving the request is (ids, groups,
# working directory, umask, environment, sys.prefix/sys.path, the mod_wsgi
# module and WSGI flags), optionally after misbehaving as the query string
# asks:
#   sleep=S        sleep S seconds before start_response
#   kill=before    SIGKILL this process before start_response
#   kill=after     send part of a 1 MiB body, then SIGKILL this process
#   kill=after-chunked  the same without Content-Length
#   block=S        sleep S seconds in C while holding the GIL
import ctypes
import json
import os
import signal
import sys
import time
import urllib.parse

import mod_wsgi


def proc_status(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return line.split()[1]
    return None


def report(environ):
    try:
        import daemon_marker
        marker = daemon_marker.MARKER
    except ImportError:
        marker = None
    with open("/proc/self/cmdline", "rb") as cmdline:
        argv0 = cmdline.read().split(b"\0")[0].decode("latin-1")
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "gid": os.getgid(),
        "egid": os.getegid(),
        "groups": sorted(os.getgroups()),
        "cwd": os.getcwd(),
        "umask": proc_status("Umask"),
        "lang": os.environ.get("LANG"),
        "lc_all": os.environ.get("LC_ALL"),
        "home_env": os.environ.get("HOME"),
        "prefix": sys.prefix,
        # Set by a usercustomize module when Python started, if any.
        "init_ids": getattr(sys, "daemon_init_ids", None),
        # Set by daemon_preload.py (WSGIImportScript), if it ran here.
        "preloaded_by": getattr(sys, "daemon_preloaded_by", None),
        "path": sys.path,
        "marker": marker,
        "argv0": argv0,
        "environ_process_group": environ.get("mod_wsgi.process_group"),
        "module_process_group": mod_wsgi.process_group,
        "maximum_processes": mod_wsgi.maximum_processes,
        "threads_per_process": mod_wsgi.threads_per_process,
        "multiprocess": environ["wsgi.multiprocess"],
        "multithread": environ["wsgi.multithread"],
        "run_once": environ["wsgi.run_once"],
    }


def application(environ, start_response):
    query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    if "sleep" in query:
        time.sleep(float(query["sleep"]))
    if "block" in query:
        # A PyDLL call keeps the GIL for its whole duration.
        ctypes.PyDLL(None).sleep(int(query["block"]))
    if query.get("kill") == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    body = json.dumps(report(environ)).encode("utf-8")
    if query.get("kill") in ("after", "after-chunked"):
        headers = [("Content-Type", "application/octet-stream")]
        if query["kill"] == "after":
            headers.append(("Content-Length", str(1 << 20)))
        start_response("200 OK", headers)

        def partial():
            yield b"x" * 65536
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGKILL)
            yield b"never sent"
        return partial()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
