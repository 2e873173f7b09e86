# A large response from a generator in 1 MiB chunks: /<mib> MiB of the
# repeating bytes 0..255, with Content-Length. Also reports the pid.
import os

CHUNK = bytes(range(256)) * 4096


def application(environ, start_response):
    mib = int(environ["PATH_INFO"].lstrip("/") or "0")
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(mib * len(CHUNK))),
                              ("X-Pid", str(os.getpid()))])

    def generate():
        for _ in range(mib):
            yield CHUNK
    return generate()
