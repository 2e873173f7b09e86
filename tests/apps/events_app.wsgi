# Subscribes to mod_wsgi's events and writes what it hears, one JSON line
# per event, to {root}/events/log.jsonl (the test reads it back).
import json
import os
import threading

import mod_wsgi

LOG = "{root}/events/log.jsonl"


def note(entry):
    entry["pid"] = os.getpid()
    with open(LOG, "a") as log:
        log.write(json.dumps(entry, default=repr) + "\n")


try:
    mod_wsgi.request_data()
    outside = "no error"
except RuntimeError as error:
    outside = str(error)
note({"name": "imported", "request_data_outside": outside,
      "has": sorted(n for n in ("subscribe_events", "subscribe_shutdown", "event_callbacks",
                                "shutdown_callbacks", "request_data", "active_requests")
                    if hasattr(mod_wsgi, n))})


def replacement(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"replaced by request_started"]


def record(name, **event):
    entry = {"name": name, "keys": sorted(event)}
    data = event.get("request_data")
    if name == "request_started":
        environ = event["request_environ"]
        entry["path"] = environ.get("PATH_INFO")
        entry["same_data"] = data is mod_wsgi.request_data()
        entry["active"] = mod_wsgi.active_requests.get(event.get("request_id")) is data
        entry["environ_id"] = environ.get("mod_wsgi.request_id") == event.get("request_id")
        data["started"] = True
        if entry["path"] == "/replaced":
            return {"application_object": replacement}
    elif name == "response_started":
        entry["status"] = event["response_status"]
    elif name == "request_exception":
        entry["exception"] = event["exception_info"][0].__name__
    elif name == "request_finished":
        entry["output_length"] = event["output_length"]
        entry["input_length"] = event["input_length"]
        entry["application_time"] = event["application_time"] >= 0
        entry["started_seen"] = data.get("started")
    elif name == "process_stopping":
        entry["reason"] = event["shutdown_reason"]
    note(entry)


def broken(name, **event):
    if name == "request_started" and event["request_environ"].get("PATH_INFO") == "/broken-callback":
        raise KeyError("a callback that fails")


mod_wsgi.subscribe_events(record)
mod_wsgi.subscribe_events(broken)
mod_wsgi.subscribe_shutdown(lambda name, **event: note({"name": "shutdown:" + name,
                                                        "reason": event["shutdown_reason"]}))


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/fail":
        raise ValueError("the application failed")
    if path == "/thread":
        result = []

        def other():
            try:
                mod_wsgi.request_data()
                result.append("no error")
            except RuntimeError as error:
                result.append(str(error))
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        body = result[0].encode()
    elif path == "/upload":
        body = b"%d" % len(environ["wsgi.input"].read())
    else:
        body = b"hello " + path.encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
