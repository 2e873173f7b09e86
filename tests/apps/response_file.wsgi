# wsgi.file_wrapper over a regular file and over non-file objects. The
# file is {root}/data/file.bin. File objects here raise if read() is
# called: a regular file must be sent from its descriptor.
import io
import os

PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "file.bin")


class NoReadFileIO(io.FileIO):
    def read(self, *args):
        raise AssertionError("read() called on a FileIO")

    def readinto(self, *args):
        raise AssertionError("readinto() called on a FileIO")

    def readall(self):
        raise AssertionError("readall() called on a FileIO")

    def close(self):
        if not self.closed:
            self.errors.write("file closed for %s\n" % self.tag)
        super().close()


class NoReadBuffered(io.BufferedReader):
    def read(self, *args):
        raise AssertionError("read() called on a BufferedReader")

    def read1(self, *args):
        raise AssertionError("read1() called on a BufferedReader")


class RecordingBytesIO(io.BytesIO):
    def __init__(self, data, errors, tag):
        super().__init__(data)
        self.sizes = []
        self.log = errors
        self.tag = tag

    def read(self, size=-1):
        self.sizes.append(size)
        return super().read(size)

    def close(self):
        self.log.write("BytesIO %s read sizes %r\n" % (self.tag, self.sizes))
        super().close()


def application(environ, start_response):
    case = environ["PATH_INFO"]
    tag = environ.get("QUERY_STRING", "")
    wrapper = environ["wsgi.file_wrapper"]
    headers = [("Content-Type", "application/octet-stream")]
    if case == "/fileio":
        f = NoReadFileIO(PATH, "rb")
        f.errors = environ["wsgi.errors"]
        f.tag = tag
        start_response("200 OK", headers)
        return wrapper(f, 8192)
    if case == "/buffered":
        start_response("200 OK", headers)
        return wrapper(NoReadBuffered(io.FileIO(PATH, "rb")))
    if case == "/open":
        start_response("200 OK", headers)
        return wrapper(open(PATH, "rb"), blksize=4096)
    if case.startswith("/seeked/"):
        f = NoReadFileIO(PATH, "rb")
        f.errors = environ["wsgi.errors"]
        f.tag = tag
        f.seek(int(case.split("/")[2]))
        start_response("200 OK", headers)
        return wrapper(f)
    if case.startswith("/declared/"):
        f = NoReadFileIO(PATH, "rb")
        f.errors = environ["wsgi.errors"]
        f.tag = tag
        start_response("200 OK", headers + [("Content-Length", case.split("/")[2])])
        return wrapper(f)
    if case == "/read_some":
        # The buffered file has read ahead: its position is tell(), not
        # the descriptor's offset.
        f = open(PATH, "rb")
        f.read(10)
        start_response("200 OK", headers)
        return wrapper(f)
    if case == "/after_write":
        # Something was written already: the file follows it.
        write = start_response("200 OK", headers)
        write(b"prefix;")
        return wrapper(open(PATH, "rb"), 5000)
    if case == "/bytesio":
        data = bytes(range(256)) * 10 + b"tail"
        start_response("200 OK", headers)
        return wrapper(RecordingBytesIO(data, environ["wsgi.errors"], tag), 1000)
    if case == "/bytesio_default":
        data = b"d" * 20000
        start_response("200 OK", headers)
        return wrapper(RecordingBytesIO(data, environ["wsgi.errors"], tag))
    raise KeyError(case)
