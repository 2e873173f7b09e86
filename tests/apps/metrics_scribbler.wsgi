# An application that tries to forge other groups' numbers: it overwrites
# every shared anonymous mapping it can see in its own process with 0xff
# and answers how many it found.
import ctypes


def shared_anonymous_mappings():
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[1].startswith("rw") and fields[1].endswith("s") \
                    and "/dev/zero" in line:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                yield start, end - start


def application(environ, start_response):
    found = 0
    for start, size in shared_anonymous_mappings():
        ctypes.memset(start, 0xFF, size)
        found += 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(found).encode()]
