# Reports the interpreter-wide settings the Python directives control, and
# tries the operations the restrictions apply to.
import json
import os
import signal
import sys
import warnings


def attempt(action):
    try:
        return {"ok": repr(action())}
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc)}


def application(environ, start_response):
    answer = {
        "pid": os.getpid(),
        "hash": hash("mod_wsgi hash seed"),
        "hash_randomization": sys.flags.hash_randomization,
        "dont_write_bytecode": sys.dont_write_bytecode,
        "warnoptions": sys.warnoptions,
        "user_warning": attempt(lambda: warnings.warn("probe", UserWarning)),
        "print": attempt(lambda: print("printed by interp_settings")),
        "stdout_type": type(sys.stdout).__name__,
        "stdin_read": attempt(lambda: sys.stdin.read(0)),
        "stdin_type": type(sys.stdin).__name__,
        "signal_type": type(signal.signal).__name__,
        "signal_result": attempt(lambda: signal.signal(signal.SIGUSR2, signal.SIG_IGN) == signal.SIG_IGN),
    }
    probe_dir = environ.get("PROBE_DIR")
    if probe_dir:
        if probe_dir not in sys.path:
            sys.path.insert(0, probe_dir)
        import bytecode_probe  # noqa: F401
        cache = os.path.join(probe_dir, "__pycache__")
        answer["pycache"] = sorted(os.listdir(cache)) if os.path.isdir(cache) else []
    body = json.dumps(answer).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
