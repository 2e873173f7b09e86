# Reads the request body in 64 KiB blocks and answers with its size and
# SHA-256, plus this process's pid (to find the child that did the work).
import hashlib
import json
import os


def application(environ, start_response):
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
    answer = {"size": size, "sha256": digest.hexdigest(),
              "largest_block": largest, "pid": os.getpid()}
    body = json.dumps(answer).encode("ascii")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
