# WSGI script for the Django example: Apache (WSGIScriptAlias) or
# mod_wsgi-express loads this file and calls the object named `application`.
#
# It sits at the root of the project, next to the `mysite` package, so that
# this directory is all an application needs: it is added to sys.path here,
# and mod_wsgi-express can serve a copy of it when Apache's user cannot read
# the original location.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

# Assigned rather than setdefault(): in embedded mode every application in
# an Apache child shares one process environment.
os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
