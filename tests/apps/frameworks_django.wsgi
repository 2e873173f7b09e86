# The standard Django WSGI entry point for the project in django_site/,
# which the test copies next to this script.
import os
import sys

SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "django_site")
if SITE not in sys.path:
    sys.path.insert(0, SITE)
os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
