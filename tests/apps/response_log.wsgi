# Writes to wsgi.errors, sys.stdout (print) and sys.stderr. Every text
# carries the QUERY_STRING token so lines can be found in the error_log.
import sys


def application(environ, start_response):
    token = environ["QUERY_STRING"]
    errors = environ["wsgi.errors"]
    errors.write("errors-line %s\n" % token)
    errors.write("errors-two %s\nerrors-three %s\n" % (token, token))
    errors.write("errors-split ")
    errors.write("%s joined\n" % token)
    errors.writelines(["writelines-one %s\n" % token, "writelines-two %s\n" % token])
    errors.write("flushed-part %s" % token)
    errors.flush()
    errors.write("after-flush %s\n" % token)
    print("print-line", token)
    print("print-to-stderr", token, file=sys.stderr)
    sys.stdout.write("stdout-write %s\n" % token)
    sys.stdout.flush()
    sys.stderr.write("stderr-write %s\n" % token)
    sys.stderr.flush()
    # The binary stream under the text wrapper takes bytes-like objects.
    buffer = errors.buffer
    buffer.write(b"buffer-bytes %s\n" % token.encode())
    buffer.write(bytearray(b"buffer-bytearray %s\n" % token.encode()))
    buffer.write(memoryview(b"buffer-memoryview %s\n" % token.encode()))
    buffer.writelines([b"buffer-lines %s\n" % token.encode()])
    sys.stderr.buffer.write(b"stderr-buffer %s\n" % token.encode())
    start_response("200 OK", [("Content-Type", "text/plain")])
    # Partial line left pending: written out when the request ends.
    errors.write("partial-at-end %s" % token)
    return [b"logged"]
