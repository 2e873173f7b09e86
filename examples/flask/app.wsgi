# WSGI script for the Flask example: Apache (WSGIScriptAlias) or
# mod_wsgi-express loads this file and calls the object named `application`.
#
# The script is not imported as a module on sys.path, so the directory that
# holds app.py is added to sys.path here before importing it.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from app import app as application  # noqa: E402
