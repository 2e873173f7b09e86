# Requests for the metrics page's tests: a pid, a slow request with a
# named frame, a 404 and an uncaught exception.
import os
import time


def stuck_here(seconds):
    time.sleep(seconds)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/fail":
        raise RuntimeError("metrics test failure")
    if path == "/missing":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"missing"]
    if path == "/slow":
        stuck_here(float(environ.get("QUERY_STRING") or "3"))
    elif path == "/busy":
        time.sleep(0.03)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
