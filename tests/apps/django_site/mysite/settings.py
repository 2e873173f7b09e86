# Minimal Django settings for the mod_wsgi integration tests: no database,
# no templates, no static files.
SECRET_KEY = "mod_wsgi-integration-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS = []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
DATABASES = {}
USE_TZ = True
TEMPLATES = []
APPEND_SLASH = True
DEFAULT_CHARSET = "utf-8"
