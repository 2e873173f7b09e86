# Registers atexit callbacks when loaded: one records the process's exit in
# a file; with ?hang another never returns (the teardown must be bounded).
# It imports threading on a request thread, as any app using logging does:
# that thread becomes threading's main thread in its interpreter, which
# must not stop the interpreter from ending.
import atexit
import os
import threading  # noqa: F401
import time

import mod_wsgi

EXITS = os.environ.get("EXITS_DIR") or os.path.join(os.path.dirname(__file__), "..", "exits")


def record_exit():
    group = mod_wsgi.application_group or "GLOBAL"
    with open(os.path.join(EXITS, "%d-%s" % (os.getpid(), group.replace("/", "_"))), "w") as f:
        f.write("exited\n")


atexit.register(record_exit)


def application(environ, start_response):
    if environ["QUERY_STRING"] == "hang":
        atexit.register(time.sleep, 3600)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
