# Streaming both ways, for the memory bounds of daemon mode:
#   POST /upload      reads wsgi.input in 64 KiB blocks, answers with the
#                     size and SHA-256 of the body
#   GET  /download/N  N MiB from a generator in 1 MiB chunks (bytes 0..255
#                     repeating), with Content-Length
# Every answer carries this process's pid in X-Pid.
import hashlib
import json
import os

CHUNK = bytes(range(256)) * 4096


def application(environ, start_response):
    route = environ.get("PATH_INFO", "")
    pid = str(os.getpid())
    if route == "/upload":
        inp = environ["wsgi.input"]
        digest = hashlib.sha256()
        size = 0
        largest = 0
        while True:
            block = inp.read(65536)
            if not block:
                break
            largest = max(largest, len(block))
            size += len(block)
            digest.update(block)
        body = json.dumps({"size": size, "sha256": digest.hexdigest(),
                           "largest_block": largest}).encode("ascii")
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body))),
                                  ("X-Pid", pid)])
        return [body]
    if route.startswith("/download/"):
        mib = int(route[len("/download/"):])
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(mib * len(CHUNK))),
                                  ("X-Pid", pid)])

        def generate():
            for _ in range(mib):
                yield CHUNK
        return generate()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("X-Pid", pid)])
    return [pid.encode("ascii")]
