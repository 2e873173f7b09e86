# Answers with mod_wsgi's metrics, as JSON.
import json
import os
import time

import mod_wsgi


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/process":
        body = mod_wsgi.process_metrics()
    elif path == "/request":
        body = mod_wsgi.request_metrics()
    elif path == "/server":
        body = mod_wsgi.server_metrics()
    elif path == "/sleep":
        time.sleep(0.03)
        body = {"pid": os.getpid()}
    else:
        body = {"pid": os.getpid()}
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [data]
