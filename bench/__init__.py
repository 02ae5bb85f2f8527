"""`make bench`: Phoenix against a bare Flask app under the same gunicorn settings, driven by wrk."""
