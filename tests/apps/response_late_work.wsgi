# Applications that go on working after their body is complete: after the
# last yield of a generator, in close(), or after write(). Each case logs
# "<case> finished" when that work is done; the body must reach the client
# before then.
import time

BODY = b"complete"
WORK_SECONDS = 2


def finished(environ, case):
    errors = environ["wsgi.errors"]
    errors.write("%s finished\n" % case)
    errors.flush()


class SlowClose:
    def __init__(self, environ):
        self.environ = environ

    def __iter__(self):
        return iter([BODY])

    def close(self):
        time.sleep(WORK_SECONDS)
        finished(self.environ, "slow_close")


def application(environ, start_response):
    case = environ["PATH_INFO"].strip("/")
    write = start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))],
    )
    if case == "generator":

        def body():
            yield BODY
            time.sleep(WORK_SECONDS)
            finished(environ, case)

        return body()
    if case == "slow_close":
        return SlowClose(environ)
    if case == "write":
        write(BODY)
        time.sleep(WORK_SECONDS)
        finished(environ, case)
        return []
    raise ValueError("unknown case %r" % case)
