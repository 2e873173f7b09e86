# Loaded by WSGIImportScript when a process starts.
import os
import sys

import mod_wsgi

sys.stderr.write("preloaded into group %r in pid %d\n" % (mod_wsgi.application_group, os.getpid()))
