# Plays a local process that is not Apache (a CGI or PHP script running as
# Apache's user, say) and talks to a daemon socket directly, speaking the
# daemon protocol as an Apache child would but without the group's secret.
#
#   attacker_client.py MODE SOCKET SCRIPT
#
# MODE is one of
#   plain         a request head for SCRIPT, nothing else
#   forged-user   the same with REMOTE_USER=admin
#   wrong-secret  a Hello with a random secret, then the request
#   silent N      open N connections, send nothing, keep them until stdin
#                 closes
# Prints its pid, then what came back: "EOF" or "FRAME <kind>".
import os
import resource
import socket
import struct
import sys
import time


def word(data):
    return struct.pack(">I", len(data)) + data


def frame(kind, payload):
    return bytes([kind]) + struct.pack(">I", len(payload)) + payload


def request(script, extra):
    variables = [
        (b"REQUEST_METHOD", b"GET"),
        (b"SCRIPT_FILENAME", script.encode()),
        (b"SCRIPT_NAME", b"/info"),
        (b"PATH_INFO", b""),
        (b"QUERY_STRING", b""),
        (b"SERVER_NAME", b"127.0.0.1"),
        (b"SERVER_PORT", b"80"),
        (b"SERVER_PROTOCOL", b"HTTP/1.1"),
        (b"REMOTE_ADDR", b"127.0.0.1"),
        (b"mod_wsgi.application_group", b""),
        (b"mod_wsgi.process_group", b"wsgi-test"),
    ] + extra
    payload = b"\0" + struct.pack(">I", len(variables))
    payload += b"".join(word(k) + word(v) for k, v in variables)
    # Head, then Go.
    return frame(1, payload) + frame(12, b"")


def answer(sock):
    try:
        data = sock.recv(65536)
    except (BrokenPipeError, ConnectionResetError):
        data = b""
    return "EOF" if not data else "FRAME %d" % data[0]


def main():
    mode, path, script = sys.argv[1], sys.argv[2], sys.argv[3]
    print(os.getpid(), flush=True)
    if mode == "silent":
        count = int(sys.argv[4])
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        held = []
        for _ in range(count):
            if not connect_within(path, 5, held):
                break
        print("ready %d" % len(held), flush=True)
        sys.stdin.read()
        closed = sum(1 for s in held if answer_nowait(s) == "EOF")
        print("closed by the daemon: %d" % closed, flush=True)
        return
    if mode == "plain":
        data = request(script, [])
    elif mode == "forged-user":
        data = request(script, [(b"REMOTE_USER", b"admin"), (b"AUTH_TYPE", b"Basic")])
    elif mode == "wrong-secret":
        data = frame(11, os.urandom(32)) + request(script, [(b"REMOTE_USER", b"admin")])
    else:
        raise SystemExit("unknown mode " + mode)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(path)
    try:
        # A refusing daemon may close the connection before all is sent.
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    print(answer(sock), flush=True)


def connect_within(path, seconds, held):
    # A full listen backlog refuses at once (EAGAIN); a daemon that stops
    # accepting keeps it full.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(path)
        except BlockingIOError:
            sock.close()
            time.sleep(0.001)
            continue
        sock.setblocking(True)
        held.append(sock)
        return True
    return False


def answer_nowait(sock):
    sock.setblocking(False)
    try:
        data = sock.recv(1)
    except BlockingIOError:
        return "OPEN"
    except (BrokenPipeError, ConnectionResetError):
        return "EOF"
    return "EOF" if not data else "DATA"


main()
