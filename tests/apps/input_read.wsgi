# Runs the wsgi.input calls listed in QUERY_STRING, in order, and answers
# with what each returned as JSON. QUERY_STRING is a comma-separated list
# of `method` or `method:arg` (arg an int or "None"), where method is
# read, readline, readlines, close, or "iter" for list(iter(input)).
# Bytes are reported as {"bytes": <latin-1 text>}, so every byte value
# survives the JSON round trip.
import json


def call(inp, op):
    name, _, arg = op.partition(":")
    if name == "iter":
        return [line for line in inp]
    args = ()
    if arg:
        args = (None,) if arg == "None" else (int(arg),)
    return getattr(inp, name)(*args)


def describe(value):
    if isinstance(value, bytes):
        return {"bytes": value.decode("latin-1")}
    if isinstance(value, list):
        return [describe(item) for item in value]
    if value is None:
        return None
    return {"type": type(value).__name__, "repr": repr(value)}


def application(environ, start_response):
    marker = environ.get("HTTP_X_MARKER")
    if marker:
        environ["wsgi.errors"].write("input_read ran for %s\n" % marker)
    inp = environ["wsgi.input"]
    query = environ.get("QUERY_STRING", "")
    ops = query.split(",") if query else []
    answer = {
        "results": [describe(call(inp, op)) for op in ops],
        "input_terminated": environ.get("wsgi.input_terminated"),
    }
    body = json.dumps(answer).encode("ascii")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
