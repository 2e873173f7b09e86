# Applications that fail in different ways; /ok answers normally.
class Failure(Exception):
    pass


def application(environ, start_response):
    case = environ["PATH_INFO"]
    if case == "/ok":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"still serving"]
    if case == "/before_start":
        raise Failure("failed before start_response")
    if case == "/after_start":
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise Failure("failed after start_response, before the body")
    if case == "/non_bytes":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["a str, not bytes"]
    if case == "/non_bytes_later":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"first", 42]
    if case == "/bad_status":
        start_response("OK 200", [("Content-Type", "text/plain")])
        return [b"not reached"]
    if case == "/bad_header":
        start_response("200 OK", [("X-Bad", "line\nbreak")])
        return [b"not reached"]
    if case == "/no_start_response":
        return [b"body without start_response"]
    if case == "/not_iterable":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return 42
    if case == "/after_body_chunked":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return failing_body()
    if case == "/after_body_length":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "1000")])
        return failing_body()
    if case == "/after_write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written part")
        raise Failure("failed after write()")
    if case == "/system_exit":
        import sys
        sys.exit("exit requested by the application")
    if case == "/close_raises":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return CloseRaises()
    if case == "/read_body":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"read %d bytes" % len(body)]
    raise KeyError(case)


def failing_body():
    yield b"first part;"
    yield b"second part;"
    raise Failure("failed in the middle of the body")


class CloseRaises:
    def __iter__(self):
        yield b"complete body"

    def close(self):
        raise Failure("failed in close()")
