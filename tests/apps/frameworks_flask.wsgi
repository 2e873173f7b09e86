# A Flask application: a JSON route, a route with a converter, and a
# multipart upload endpoint. Flask comes from the test venv (found through
# WSGIPythonHome or WSGIPythonPath, depending on the test).
import hashlib
import os

import flask
from flask import Flask, jsonify, request, send_file, url_for

DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "frameworks_data.bin")

app = Flask(__name__)


@app.route("/hello")
def hello():
    return jsonify(
        message="hello from flask",
        flask_file=flask.__file__,
        script_root=request.script_root,
        path=request.path,
        full_path=request.full_path,
        url=request.url,
        url_for_hello=url_for("hello"),
        url_for_item=url_for("item", item_id=7),
        url_for_external=url_for("hello", _external=True),
        args=request.args.to_dict(flat=False),
    )


@app.route("/items/<int:item_id>")
def item(item_id):
    return jsonify(item_id=item_id, self_url=url_for("item", item_id=item_id))


@app.route("/upload", methods=["POST"])
def upload():
    upload = request.files["file"]
    data = upload.read()
    return jsonify(
        field=request.form.get("field"),
        other=request.form.get("other"),
        filename=upload.filename,
        file_content_type=upload.mimetype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_length=request.content_length,
    )


@app.route("/download")
def download():
    # Werkzeug sends files through environ["wsgi.file_wrapper"].
    return send_file(DATA_FILE, mimetype="application/octet-stream")


application = app
