"""The test project's WSGI application, for gunicorn."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault(
    "DJANGO_SETTINGS_MODULE", "tests.integrations.web.apps.djsite.settings"
)
application = get_wsgi_application()
