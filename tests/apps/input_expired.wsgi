# The first request in a process keeps its wsgi.input; later requests use
# that kept object and report what each call raised.
import json
import os

kept = []


def attempt(call):
    try:
        result = call()
    except Exception as exc:
        return {"raised": type(exc).__name__, "message": str(exc)}
    return {"raised": None, "result": repr(result)}


def application(environ, start_response):
    if not kept:
        kept.append(environ["wsgi.input"])
        answer = {"kept": True, "pid": os.getpid()}
    else:
        old = kept[0]
        answer = {
            "kept": False,
            "pid": os.getpid(),
            "read": attempt(lambda: old.read()),
            "read_n": attempt(lambda: old.read(1)),
            "readline": attempt(lambda: old.readline()),
            "readlines": attempt(lambda: old.readlines()),
            "iter": attempt(lambda: next(iter(old))),
            "current": environ["wsgi.input"].read().decode("latin-1"),
        }
    body = json.dumps(answer).encode("ascii")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
