"""Settings for the Django example served by mod_wsgi (Rust).

Deliberately minimal: no database, no sessions, no admin, no templates
engine; just URL routing and views. See README.md.
"""

# !!! CHANGE THIS before serving anything real. A fixed, published key lets
# anyone forge signed data (cookies, password reset tokens, ...). Generate
# one with:
#   python -c "from django.core.management.utils import get_random_secret_key as k; print(k())"
SECRET_KEY = "CHANGE-ME-this-placeholder-secret-key-is-public"

DEBUG = False

# With DEBUG off Django answers 400 to any Host header not listed here.
# Add the name your Apache virtual host is reached by.
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = []

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mysite.urls"

# Nothing here uses the ORM.
DATABASES = {}

TEMPLATES = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
