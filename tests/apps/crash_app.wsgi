# A daemon-mode application that works, or dies, as the query string asks:
#   work=US        hold the GIL for US microseconds, noting in marks/log
#                  when the work started ("S <pid>-<n>"); the answer is
#                  "<pid>-<n>"
#   crash=segv     dereference NULL (SIGSEGV)
#   crash=abort    abort() (SIGABRT)
#   crash=exit     os._exit(3)
#   hog=MIB        fill MIB MiB of memory, wait for it to be seen, SIGKILL
#   burn=S         use S seconds of CPU in Python
#   allocate=MIB   allocate MIB MiB (MemoryError beyond memory-limit)
#   sleep=S        time.sleep(S) (a C call that releases the GIL)
# and answers its pid.
import ctypes
import itertools
import os
import signal
import time
import urllib.parse

MARKS = "{root}/marks"
LIBC = ctypes.PyDLL(None)
COUNTER = itertools.count()


LOG = None


def note(line):
    # Written through a PyDLL call, which keeps the GIL: the mark is made
    # by the thread the moment its application code runs, without a
    # chance for another thread to run first.
    global LOG
    if LOG is None:
        LOG = os.open(os.path.join(MARKS, "log"),
                      os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    data = (line + "\n").encode()
    LIBC.write(LOG, data, len(data))


def application(environ, start_response):
    query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    crash = query.get("crash")
    if crash == "segv":
        ctypes.string_at(0)
    elif crash == "abort":
        os.abort()
    elif crash == "exit":
        os._exit(3)
    if "hog" in query:
        hog = b"x" * (int(query["hog"]) << 20)
        time.sleep(0.6)
        os.kill(os.getpid(), signal.SIGKILL)
    if "sleep" in query:
        time.sleep(float(query["sleep"]))
    if "allocate" in query:
        block = b"x" * (int(query["allocate"]) << 20)
        del block
    if "burn" in query:
        end = time.process_time() + float(query["burn"])
        while time.process_time() < end:
            pass
    body = str(os.getpid()).encode()
    if "work" in query:
        token = "%d-%d" % (os.getpid(), next(COUNTER))
        note("S " + token)
        # A PyDLL call keeps the GIL for its whole duration.
        LIBC.usleep(int(query["work"]))
        body = token.encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
