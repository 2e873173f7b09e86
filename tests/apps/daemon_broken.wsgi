# A script whose import always fails (for startup-timeout).
import daemon_module_that_does_not_exist  # noqa: F401


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable"]
