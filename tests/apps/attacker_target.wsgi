# The script an attacker asks a daemon process to run (SCRIPT_FILENAME of
# a forged request). If any of it runs, it leaves a mark.
import os

MARKS = "{root}/marks"

with open(os.path.join(MARKS, "imported-%d" % os.getpid()), "w") as mark:
    mark.write("imported\n")


def application(environ, start_response):
    with open(os.path.join(MARKS, "ran-%d" % os.getpid()), "w") as mark:
        mark.write(environ.get("REMOTE_USER", "") + "\n")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"owned"]
