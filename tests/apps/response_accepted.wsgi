# Unusual but valid statuses and headers, which must reach the client as
# given: an empty reason phrase, a tab and latin-1 in values, repeated
# headers, token punctuation in names, and "Trailer" (not hop-by-hop).
def application(environ, start_response):
    status = {
        "/empty_reason": "299 ",
        "/custom": "299 Custom Reason",
        "/latin1_reason": "200 Caf\xe9",
    }.get(environ["PATH_INFO"], "200 OK")
    start_response(status, [
        ("Content-Type", "text/plain"),
        ("X-Tab", "a\tb"),
        ("X-Latin", "caf\xe9"),
        ("X-Empty", ""),
        ("X-Twice", "one"),
        ("X-Twice", "two"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("X-Token!#$%&'*+.^_`|~", "punctuation"),
        ("Trailer", "X-Later"),
        ("Content-Length", "2"),
    ])
    return [b"ok"]
