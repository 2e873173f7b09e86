# Reads the whole request body in 64 KiB blocks and answers its length.


def application(environ, start_response):
    stream = environ["wsgi.input"]
    total = 0
    while True:
        block = stream.read(65536)
        if not block:
            break
        total += len(block)
    body = b"%d\n" % total
    start_response(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    )
    return [body]
