# Takes a while to load, so that concurrent first requests find it being
# loaded by another thread. Logs each load with the process id.
import os
import sys
import time

sys.stderr.write("slow-import loaded pid=%d\n" % os.getpid())
sys.stderr.flush()
time.sleep(0.5)


def application(environ, start_response):
    body = b"%d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
