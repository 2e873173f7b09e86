# /64k and /10m: a response of that size, sent as 64 KiB blocks of one
# module-level buffer, so the application's own memory does not depend on
# the size and any growth with it is the server's.
BLOCK = b"x" * 65536
SIZES = {"/64k": 65536, "/10m": 10 * 1024 * 1024}


def application(environ, start_response):
    size = SIZES.get(environ.get("PATH_INFO", ""))
    if size is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"unknown size\n"]
    start_response(
        "200 OK",
        [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))],
    )
    return (BLOCK for _ in range(size // len(BLOCK)))
