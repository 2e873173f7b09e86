# Uses C extension modules: json, hashlib, and numpy when asked.
import hashlib
import json


def application(environ, start_response):
    answer = {
        "json": json.loads('{"a": [1, 2]}'),
        "sha256": hashlib.sha256(b"mod_wsgi").hexdigest(),
    }
    if environ["QUERY_STRING"] == "numpy":
        import numpy
        answer["numpy_sum"] = int(numpy.arange(10).sum())
        answer["numpy_version"] = numpy.__version__
    body = json.dumps(answer).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
