# Response iterables of every kind, and close() of the iterable, which logs
# "close() called for <tag> after <n> items" to wsgi.errors. The tag comes
# from QUERY_STRING so each request's close is recognisable.
import time


class Closing:
    """A custom iterable (not an iterator) with close()."""

    def __init__(self, environ, items, fail_at=None, forever=False):
        self.environ = environ
        self.items = items
        self.fail_at = fail_at
        self.forever = forever
        self.produced = 0
        self.tag = environ.get("QUERY_STRING", "")

    def __iter__(self):
        started = time.monotonic()
        while True:
            if self.fail_at is not None and self.produced == self.fail_at:
                raise RuntimeError("iteration failed on purpose")
            if self.forever:
                # Bounded so that a server that never notices the client
                # leaving still ends (and the test then fails on the log).
                if time.monotonic() - started > 120:
                    self.environ["wsgi.errors"].write("endless response timed out\n")
                    return
                item = b"x" * 65536
            elif self.produced < len(self.items):
                item = self.items[self.produced]
            else:
                return
            self.produced += 1
            yield item

    def close(self):
        self.environ["wsgi.errors"].write(
            "close() called for %s after %d items\n" % (self.tag, self.produced))


def generator(environ):
    try:
        yield b"gen"
        yield b""
        yield b"erator"
    finally:
        environ["wsgi.errors"].write("generator finished for %s\n" % environ["QUERY_STRING"])


def lazy_start(start_response):
    # PEP 3333 allows start_response to be called by the iterable, before
    # its first item.
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-Lazy", "yes")])
    yield b"lazy"
    yield b" start"


def application(environ, start_response):
    case = environ["PATH_INFO"]
    if case == "/lazy_start":
        return lazy_start(start_response)
    if case == "/no_content":
        start_response("204 No Content", [])
        return []
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    if case == "/list":
        return [b"li", b"", b"st"]
    if case == "/tuple":
        return (b"tu", b"ple")
    if case == "/empty_list":
        return []
    if case == "/bytes_subclass":
        class Data(bytes):
            pass
        return [Data(b"sub"), Data(b"class")]
    if case == "/generator":
        return generator(environ)
    if case == "/iterator":
        return iter([b"it", b"erator"])
    if case == "/custom":
        return Closing(environ, [b"cus", b"tom"])
    if case == "/custom_empty":
        return Closing(environ, [])
    if case == "/fails":
        return Closing(environ, [b"one", b"two", b"three"], fail_at=2)
    if case == "/fails_first":
        return Closing(environ, [b"one"], fail_at=0)
    if case == "/endless":
        return Closing(environ, [], forever=True)
    raise KeyError(case)
