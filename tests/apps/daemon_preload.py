# Loaded by WSGIImportScript when a process of the group starts: records
# which process imported it, for daemon_info.wsgi to report.
import os
import sys

sys.daemon_preloaded_by = os.getpid()
