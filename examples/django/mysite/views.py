"""Views of the Django example."""

import platform

import django
from django.http import JsonResponse
from django.http import HttpResponse
from django.urls import reverse
from django.utils.html import format_html


def index(request):
    body = format_html(
        """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Django on mod_wsgi</title></head>
<body>
  <h1>Django on mod_wsgi (Rust)</h1>
  <p>Django {} on Python {}, mounted at <code>{}</code>.</p>
  <ul>
    <li><a href="{}">{}</a>: JSON about this request</li>
    <li><a href="{}">{}</a>: a view with a URL parameter</li>
  </ul>
</body>
</html>
""",
        django.get_version(),
        platform.python_version(),
        request.META.get("SCRIPT_NAME") or "/",
        reverse("info"),
        reverse("info"),
        reverse("hello", args=["world"]),
        reverse("hello", args=["world"]),
    )
    return HttpResponse(body)


def info(request):
    meta = request.META
    return JsonResponse(
        {
            "django": django.get_version(),
            "python": platform.python_version(),
            "method": request.method,
            "path": request.path,
            "path_info": request.path_info,
            "script_name": meta.get("SCRIPT_NAME", ""),
            "absolute_uri": request.build_absolute_uri(),
            "query": {key: request.GET.getlist(key) for key in request.GET},
            "mod_wsgi": {
                "version": list(meta.get("mod_wsgi.version", ())),
                "process_group": meta.get("mod_wsgi.process_group"),
                "application_group": meta.get("mod_wsgi.application_group"),
            },
        }
    )


def hello(request, name):
    return HttpResponse(f"Hello, {name}!\n", content_type="text/plain; charset=utf-8")
