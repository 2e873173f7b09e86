# An application wrapped in wsgiref.validate.validator, which raises
# AssertionError (or warns with WSGIWarning) on any PEP 3333 violation by
# the server: environ contents, wsgi.input and wsgi.errors behaviour,
# start_response, write() and closing of the response iterable.
import hashlib
import json
import os
import sys
import warnings
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("always", WSGIWarning)

DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "frameworks_data.bin")


def describe(body, **extra):
    answer = {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    answer.update(extra)
    return answer


def json_response(start_response, answer):
    body = json.dumps(answer).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    route = environ.get("PATH_INFO", "")
    stream = environ["wsgi.input"]
    errors = environ["wsgi.errors"]

    if route == "/get":
        errors.write("validator app: GET\n")
        errors.writelines(["validator app: ", "writelines\n"])
        errors.flush()
        body = b"hello from the validated app\n"
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    if route == "/read":
        size = int(environ.get("QUERY_STRING") or "7")
        chunks = []
        while True:
            chunk = stream.read(size)
            if not chunk:
                break
            chunks.append(chunk)
        # Past the end, read(n) keeps returning b"".
        assert stream.read(size) == b""
        body = b"".join(chunks)
        return json_response(start_response, describe(
            body, reads=len(chunks), largest=max([len(c) for c in chunks] or [0])))

    if route == "/read-all":
        # read(-1) reads to the end (validator requires an argument).
        body = stream.read(-1)
        return json_response(start_response, describe(body))

    if route == "/readline":
        lines = []
        while True:
            line = stream.readline()
            if not line:
                break
            lines.append(line.decode("latin-1"))
        return json_response(start_response, {"lines": lines})

    if route == "/readline-hint":
        # readline(n) returns at most n bytes, stopping after a newline.
        parts = []
        while True:
            part = stream.readline(5)
            if not part:
                break
            parts.append(part.decode("latin-1"))
        return json_response(start_response, {"parts": parts})

    if route == "/readlines":
        lines = [line.decode("latin-1") for line in stream.readlines()]
        return json_response(start_response, {"lines": lines})

    if route == "/iter":
        lines = [line.decode("latin-1") for line in stream]
        return json_response(start_response, {"lines": lines})

    if route == "/head":
        body = b"x" * 1000
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body))),
                                  ("X-Method", environ["REQUEST_METHOD"])])
        return [body]

    if route == "/file":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(DATA_FILE, "rb"), 8192)

    if route == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written;")
        write(b"")
        write(b"also written;")
        return [b"returned;", b"", b"end"]

    if route == "/generator":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def generate():
            for i in range(100):
                yield b"line %d\n" % i

        return generate()

    if route == "/empty":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return []

    if route == "/empty-length":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "0")])
        return [b""]

    if route == "/no-content":
        start_response("204 No Content", [])
        return []

    if route == "/exc-info":
        # Headers not sent yet: a second start_response with exc_info
        # replaces them.
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("something failed")
        except ValueError:
            start_response("500 Internal Server Error",
                           [("Content-Type", "text/plain"), ("X-Replaced", "yes")],
                           sys.exc_info())
        return [b"error page\n"]

    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such route\n"]


application = validator(app)
