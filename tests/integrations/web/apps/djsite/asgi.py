"""The test project's ASGI application, for uvicorn: the middleware in async mode."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault(
    "DJANGO_SETTINGS_MODULE", "tests.integrations.web.apps.djsite.settings"
)
application = get_asgi_application()
