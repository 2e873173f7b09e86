"""mod_wsgi, rebuilt in Rust: where pip put the Apache module.

The Apache module itself is not a Python extension; it is shipped inside
this package so that the Python which installed it can say where it is::

    import mod_wsgi_rs
    print(mod_wsgi_rs.module_location())   # for a LoadModule line
    print(mod_wsgi_rs.python_home())       # for WSGIPythonHome

The ``mod_wsgi-express`` command installed beside it does the rest.
"""

import os
import sys

__all__ = ["module_location", "python_home", "express_location"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def module_location():
    """The absolute path of the Apache module (``wsgi_module``)."""
    for name in sorted(os.listdir(_HERE)):
        if name.startswith("mod_wsgi") and name.endswith(".so"):
            return os.path.join(_HERE, name)
    raise RuntimeError("the Apache module is missing from %s" % _HERE)


def python_home():
    """The value for ``WSGIPythonHome``: this Python's ``sys.prefix``."""
    return os.path.normpath(sys.prefix)


def express_location():
    """The ``mod_wsgi-express`` program installed with this package."""
    scripts = os.path.dirname(os.path.abspath(sys.executable))
    candidate = os.path.join(scripts, "mod_wsgi-express")
    return candidate if os.path.exists(candidate) else None
