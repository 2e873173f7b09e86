# Answers with the WSGI environ as JSON: str values as they are, other
# values as their repr, and the types of the wsgi.* objects.
import json
import sys


def application(environ, start_response):
    described = {}
    for key, value in environ.items():
        if isinstance(value, str):
            described[key] = value
        else:
            described[key] = repr(value)
    described["__types__"] = {key: type(value).__name__ for key, value in environ.items()}
    described["__non_latin1__"] = [
        key for key, value in environ.items()
        if isinstance(value, str) and any(ord(c) > 255 for c in value)
    ]
    described["__sys__"] = {
        "executable": sys.executable,
        "prefix": sys.prefix,
        "path": sys.path,
        "optimize": sys.flags.optimize,
        "argv": sys.argv,
        "stdout": type(sys.stdout).__name__,
        "stderr": type(sys.stderr).__name__,
        "module_name": __name__,
    }
    body = json.dumps(described, sort_keys=True).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
