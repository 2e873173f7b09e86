"""Reports how the interpreter was set up: optimisation, prefixes,
sys.path, argv, stdout/stderr and the script's module name. With
?import=a,b it also imports those modules and reports where from."""
import io
import json
import os
import sys


def documented():
    """The script's docstring."""


def script_assert_raises():
    try:
        assert False, "asserts are enabled"
    except AssertionError:
        return True
    return False


def describe_module(name):
    try:
        module = __import__(name)
    except Exception as exc:  # reported, not raised
        return {"error": "%s: %s" % (type(exc).__name__, exc)}
    answer = {"file": getattr(module, "__file__", None)}
    for attr in ("DEBUG", "VALUE"):
        if hasattr(module, attr):
            answer[attr.lower()] = getattr(module, attr)
    if hasattr(module, "documented"):
        answer["docstring"] = module.documented.__doc__
        answer["module_docstring"] = module.__doc__
    if hasattr(module, "assert_raises"):
        answer["assert_raises"] = module.assert_raises()
    if answer["file"]:
        cache = os.path.join(os.path.dirname(answer["file"]), "__pycache__")
        try:
            answer["pycache"] = sorted(
                entry for entry in os.listdir(cache) if entry.startswith(name + "."))
        except OSError:
            answer["pycache"] = None
    return answer


def type_name(obj):
    kind = type(obj)
    return "%s.%s" % (kind.__module__, kind.__qualname__)


def application(environ, start_response):
    params = dict(part.split("=", 1) for part in environ.get("QUERY_STRING", "").split("&")
                  if "=" in part)
    if environ.get("PATH_INFO") == "/print":
        print("python-setup: printed to stdout")
        print("python-setup: printed to stderr", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()

    info = {
        "optimize": sys.flags.optimize,
        "debug": __debug__,
        "assert_raises": script_assert_raises(),
        "docstring": documented.__doc__,
        "module_docstring": __doc__,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "exec_prefix": sys.exec_prefix,
        "path": sys.path,
        "argv": sys.argv,
        "name": __name__,
        "stdout_type": type_name(sys.stdout),
        "stderr_type": type_name(sys.stderr),
        "stdout_is_text_io_wrapper": isinstance(sys.stdout, io.TextIOWrapper),
        "stderr_is_text_io_wrapper": isinstance(sys.stderr, io.TextIOWrapper),
        "stdout_is_original": sys.stdout is sys.__stdout__,
        "stderr_is_original": sys.stderr is sys.__stderr__,
        "main_is_script": sys.modules.get("__main__") is sys.modules.get(__name__),
        "imports": {name: describe_module(name)
                    for name in params.get("import", "").split(",") if name},
    }
    body = json.dumps(info).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
