# Importable only where python-path= puts this directory on sys.path.
MARKER = "daemon-marker"
