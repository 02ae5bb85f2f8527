"""The WSGI entry point for gunicorn and the flask command: `gunicorn wsgi:app`."""

from phoenix import create_app

app = create_app()
