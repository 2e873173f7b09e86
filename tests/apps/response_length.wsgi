# Declared Content-Length against the bytes the application produces.
# /<declared>/<piece>,<piece>,... yields each piece as bytes ("-" for b"").
def application(environ, start_response):
    _, declared, pieces = environ["PATH_INFO"].split("/")
    items = [b"" if p == "-" else p.encode() for p in pieces.split(",")] if pieces else []
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", declared)])
    return items
