# The write() callable returned by start_response.
def application(environ, start_response):
    case = environ["PATH_INFO"]
    if case == "/types":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        for value in ["text", bytearray(b"ba"), memoryview(b"mv"), 42, None]:
            try:
                write(value)
            except TypeError:
                write(("TypeError:%s;" % type(value).__name__).encode())
            else:
                write(("accepted:%s;" % type(value).__name__).encode())
        write(b"bytes;")
        return [b"end"]
    if case == "/mixed":
        # write() output comes before the iterable's.
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"one,")
        write(b"two,")
        return [b"three,", b"four"]
    if case == "/before_start_caught":
        write = start_response.__self__.write
        try:
            write(b"too early")
        except RuntimeError as exc:
            answer = "RuntimeError:%s" % exc
        else:
            answer = "accepted"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [answer.encode()]
    if case == "/before_start":
        start_response.__self__.write(b"too early")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"not reached"]
    raise KeyError(case)
