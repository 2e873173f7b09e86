# Slow and fast endpoints for the concurrency tests. Everything in one
# process shares this one interpreter (embedded mode), so a request blocked
# in wsgi.input.read() or in sending its response must not hold the GIL.
import json
import os
import sys
import threading
import time

CHUNK = b"s" * (256 * 1024)


def json_response(start_response, answer):
    body = json.dumps(answer).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def log(environ, message):
    errors = environ["wsgi.errors"]
    errors.write(message + "\n")
    errors.flush()


def application(environ, start_response):
    route = environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")

    if route == "/hello":
        return json_response(start_response, {
            "pid": os.getpid(),
            "thread": threading.get_ident(),
        })

    if route == "/flags":
        return json_response(start_response, {
            "multithread": environ["wsgi.multithread"],
            "multiprocess": environ["wsgi.multiprocess"],
            "run_once": environ["wsgi.run_once"],
            "pid": os.getpid(),
        })

    if route == "/read":
        # Blocks in read() until the client sends the whole body (or goes away).
        log(environ, "threads-app: read started pid=%d" % os.getpid())
        stream = environ["wsgi.input"]
        total = 0
        while True:
            chunk = stream.read(65536)
            if not chunk:
                break
            total += len(chunk)
        return json_response(start_response, {"received": total, "pid": os.getpid()})

    if route == "/stream":
        # Tens of MiB from a generator; a client that does not read makes
        # the server block while sending.
        megabytes = int(query or "32")
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(megabytes * 1024 * 1024))])

        def generate():
            log(environ, "threads-app: stream started pid=%d" % os.getpid())
            for _ in range(megabytes * 4):
                yield CHUNK
            log(environ, "threads-app: stream finished pid=%d" % os.getpid())

        return generate()

    if route == "/rendezvous":
        # Waits until `n` requests of the batch have arrived, so it only
        # succeeds if that many requests run at the same time.
        params = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
        directory = os.path.join(params["dir"])
        wanted = int(params["n"])
        marker = os.path.join(directory, "%d-%d-%s" % (
            os.getpid(), threading.get_ident(), params["i"]))
        with open(marker, "w"):
            pass
        deadline = time.monotonic() + 30
        arrived = 0
        while time.monotonic() < deadline:
            arrived = len(os.listdir(directory))
            if arrived >= wanted:
                break
            time.sleep(0.02)
        return json_response(start_response, {
            "pid": os.getpid(),
            "thread": threading.get_ident(),
            "arrived": arrived,
        })

    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such route\n"]
