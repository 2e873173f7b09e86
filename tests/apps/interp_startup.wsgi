# Mounted with both process-group= and application-group=: loaded when the
# process starts, before any request.
import os
import sys

sys.stderr.write("alias script loaded at start in pid %d\n" % os.getpid())


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"startup"]
