# start_response validation. /<case> calls start_response with a bad
# status or headers, catches what it raises and answers (after a correct
# start_response) with {"raised": <exception type or null>, "message": ...}.
import json

CASES = {
    # status
    "status_int": (200, []),
    "status_bytes": (b"200 OK", []),
    "status_none": (None, []),
    "status_no_space": ("200", []),
    "status_no_space_reason": ("200OK", []),
    "status_two_digits": ("20 OK", []),
    "status_four_digits": ("2000 OK", []),
    "status_letters": ("abc OK", []),
    "status_empty": ("", []),
    "status_crlf": ("200 OK\r\nX-Injected: 1", []),
    "status_control": ("200 O\x01K", []),
    "status_non_latin1": ("200 \u20ac", []),
    # the header list
    "headers_tuple": ("200 OK", (("X-A", "1"),)),
    "headers_dict": ("200 OK", {"X-A": "1"}),
    "headers_none": ("200 OK", None),
    "header_list_item": ("200 OK", [["X-A", "1"]]),
    "header_str_item": ("200 OK", ["X-A: 1"]),
    "header_one_item": ("200 OK", [("X-A",)]),
    "header_three_items": ("200 OK", [("X-A", "1", "2")]),
    # header names
    "name_bytes": ("200 OK", [(b"X-A", "1")]),
    "name_int": ("200 OK", [(1, "1")]),
    "name_empty": ("200 OK", [("", "1")]),
    "name_space": ("200 OK", [("X A", "1")]),
    "name_colon": ("200 OK", [("X:A", "1")]),
    "name_crlf": ("200 OK", [("X-A\r\nX-Injected", "1")]),
    "name_non_latin1": ("200 OK", [("X-\u20ac", "1")]),
    "name_latin1_not_token": ("200 OK", [("X-\xe9", "1")]),
    # header values
    "value_bytes": ("200 OK", [("X-A", b"1")]),
    "value_int": ("200 OK", [("X-A", 1)]),
    "value_none": ("200 OK", [("X-A", None)]),
    "value_crlf": ("200 OK", [("X-A", "1\r\nX-Injected: 2")]),
    "value_lf": ("200 OK", [("X-A", "1\nX-Injected: 2")]),
    "value_cr": ("200 OK", [("X-A", "1\rX-Injected: 2")]),
    "value_nul": ("200 OK", [("X-A", "1\x002")]),
    "value_control": ("200 OK", [("X-A", "1\x1b2")]),
    "value_del": ("200 OK", [("X-A", "1\x7f")]),
    "value_non_latin1": ("200 OK", [("X-A", "\u20ac")]),
    # hop-by-hop headers
    "hop_connection": ("200 OK", [("Connection", "close")]),
    "hop_keep_alive": ("200 OK", [("Keep-Alive", "timeout=5")]),
    "hop_proxy_authenticate": ("200 OK", [("Proxy-Authenticate", "Basic")]),
    "hop_proxy_authorization": ("200 OK", [("Proxy-Authorization", "Basic eA==")]),
    "hop_te": ("200 OK", [("TE", "trailers")]),
    "hop_trailers": ("200 OK", [("Trailers", "X-A")]),
    "hop_transfer_encoding": ("200 OK", [("Transfer-Encoding", "chunked")]),
    "hop_upgrade": ("200 OK", [("Upgrade", "websocket")]),
    "hop_lowercase": ("200 OK", [("connection", "close")]),
    # Content-Length values
    "length_letters": ("200 OK", [("Content-Length", "abc")]),
    "length_negative": ("200 OK", [("Content-Length", "-1")]),
    "length_fraction": ("200 OK", [("Content-Length", "1.5")]),
    "length_empty": ("200 OK", [("Content-Length", "")]),
    "length_trailing": ("200 OK", [("Content-Length", "12abc")]),
    "length_huge": ("200 OK", [("Content-Length", "99999999999999999999999")]),
}


def application(environ, start_response):
    case = environ["PATH_INFO"].lstrip("/")
    if case == "cases":
        body = json.dumps(sorted(CASES)).encode("ascii")
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    status, headers = CASES[case]
    try:
        start_response(status, headers)
    except Exception as exc:
        answer = {"raised": type(exc).__name__, "message": str(exc)}
    else:
        answer = {"raised": None, "message": None}
    body = json.dumps(answer).encode("ascii")
    # Replaces whatever the failed call may have left behind.
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("X-Second-Call", "yes")])
    return [body]
