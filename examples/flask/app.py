"""A small Flask application served by mod_wsgi (Rust).

Routes:
    /             an HTML page with an upload form
    /api/info     JSON about the request and the server
    /upload       POST target of the form (multipart/form-data)

It is loaded by app.wsgi, which Apache runs; nothing here is specific to
mod_wsgi except the optional ``mod_wsgi.*`` keys read from the environ.
"""

import hashlib
import platform
from importlib.metadata import version

from flask import Flask, jsonify, render_template_string, request

app = Flask(__name__)

# Refuse request bodies larger than 16 MiB (Flask answers 413). Apache's
# own LimitRequestBody applies before the application is even called.
app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Flask on mod_wsgi</title></head>
<body>
  <h1>Flask on mod_wsgi (Rust)</h1>
  <p>This page was produced by Flask {{ flask_version }} on Python
     {{ python_version }}, mounted at <code>{{ script_root or "/" }}</code>.</p>
  <p>Machine-readable details: <a href="{{ url_for('info') }}">{{ url_for('info') }}</a></p>

  <h2>Upload a file</h2>
  <form action="{{ url_for('upload') }}" method="post" enctype="multipart/form-data">
    <p><label>Description <input name="description"></label></p>
    <p><input type="file" name="file" required></p>
    <p><button type="submit">Upload</button></p>
  </form>
  {% if result %}
  <h2>Received</h2>
  <ul>
    <li>description: {{ result.description }}</li>
    <li>file name: {{ result.filename }}</li>
    <li>size: {{ result.size }} bytes</li>
    <li>SHA-256: <code>{{ result.sha256 }}</code></li>
  </ul>
  {% endif %}
</body>
</html>
"""


def render_page(result=None, status=200):
    html = render_template_string(
        PAGE,
        flask_version=version("flask"),
        python_version=platform.python_version(),
        script_root=request.script_root,
        result=result,
    )
    return html, status


@app.get("/")
def index():
    return render_page()


@app.get("/api/info")
def info():
    environ = request.environ
    return jsonify(
        python=platform.python_version(),
        method=request.method,
        path=request.path,
        script_root=request.script_root,
        url=request.url,
        args=request.args.to_dict(flat=False),
        multithread=environ.get("wsgi.multithread"),
        multiprocess=environ.get("wsgi.multiprocess"),
        mod_wsgi={
            "version": list(environ.get("mod_wsgi.version", ())),
            "process_group": environ.get("mod_wsgi.process_group"),
            "application_group": environ.get("mod_wsgi.application_group"),
            "callable_object": environ.get("mod_wsgi.callable_object"),
        },
    )


@app.post("/upload")
def upload():
    uploaded = request.files.get("file")
    if uploaded is None or uploaded.filename == "":
        return render_page(status=400)
    data = uploaded.read()
    result = {
        "description": request.form.get("description", ""),
        "filename": uploaded.filename,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    # Clients that ask for JSON (curl -H 'Accept: application/json') get it.
    if request.accept_mimetypes.best == "application/json":
        return jsonify(result)
    return render_page(result=result)
