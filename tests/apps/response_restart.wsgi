# Calling start_response more than once.
import sys


def replace(environ, start_response):
    # Before any body byte: the second call replaces the first.
    start_response("500 First", [("X-First", "1"), ("Content-Type", "text/html")])
    start_response("201 Second", [("X-Second", "2"), ("Content-Type", "text/plain")])
    return [b"second wins"]


def replace_with_exc_info(environ, start_response):
    start_response("200 OK", [("X-First", "1")])
    try:
        raise ValueError("handled")
    except ValueError:
        start_response("503 Service Unavailable", [("X-Error", "handled"),
                                                   ("Content-Type", "text/plain")],
                       sys.exc_info())
    return [b"error page"]


def replace_after_empty_write(environ, start_response):
    # An empty write sends nothing, so the head can still change.
    write = start_response("500 First", [("X-First", "1")])
    write(b"")
    start_response("202 Accepted", [("X-Second", "2")])
    return [b"", b"accepted"]


def after_write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"first;")
    try:
        start_response("500 Too Late", [])
    except RuntimeError as exc:
        write(("RuntimeError:%s;" % exc).encode())
    else:
        write(b"no exception;")
    return [b"end"]


def after_yield(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first;"
    try:
        start_response("500 Too Late", [])
    except RuntimeError as exc:
        yield ("RuntimeError:%s;" % exc).encode()
    else:
        yield b"no exception;"
    yield b"end"


def exc_info_after_write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"first;")
    original = KeyError("the original")
    try:
        raise original
    except KeyError:
        try:
            start_response("500 Error", [], sys.exc_info())
        except KeyError as exc:
            write(("reraised:%s:same=%s;" % (type(exc).__name__, exc is original)).encode())
        except Exception as exc:
            write(("other:%s:%s;" % (type(exc).__name__, exc)).encode())
        else:
            write(b"no exception;")
    return [b"end"]


def exc_info_uncaught_after_write(environ, start_response):
    # The re-raised exception propagates: the response is cut.
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"first;")
    try:
        raise LookupError("propagated from exc_info")
    except LookupError:
        start_response("500 Error", [], sys.exc_info())
    return [b"never sent"]


CASES = {name: func for name, func in list(globals().items()) if callable(func)}


def application(environ, start_response):
    return CASES[environ["PATH_INFO"].lstrip("/")](environ, start_response)
