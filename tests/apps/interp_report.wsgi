# Reports which interpreter and process a request ran in, and what the
# mod_wsgi module and the environ say about it.
import json
import os
import sys

import mod_wsgi


def application(environ, start_response):
    body = json.dumps({
        "pid": os.getpid(),
        "modules_id": id(sys.modules),
        "environ_application_group": environ["mod_wsgi.application_group"],
        "module_application_group": mod_wsgi.application_group,
        "environ_process_group": environ["mod_wsgi.process_group"],
        "module_process_group": mod_wsgi.process_group,
        "environ_version": environ["mod_wsgi.version"],
        "module_version": list(mod_wsgi.version),
        "maximum_processes": mod_wsgi.maximum_processes,
        "threads_per_process": mod_wsgi.threads_per_process,
        "file_wrapper_is_module_type": mod_wsgi.FileWrapper is environ["wsgi.file_wrapper"],
        "script_modules": sorted(name for name in sys.modules if name.startswith("_mod_wsgi_")),
        "module_name": __name__,
        "script_reloading": environ["mod_wsgi.script_reloading"],
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
