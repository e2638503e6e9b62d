"""A Django project for ``gunicorn tests.integrations.web.apps.djsite.wsgi``.

``LOGGING`` puts a ``SnowplowHandler`` (``capture_exceptions``) on the
project's logger and on ``django.request``, whose error records carry the
request. ``HeaderUserMiddleware`` stands in for ``AuthenticationMiddleware``
(no database): ``request.user`` is the user named by ``X-User``, so the
Snowplow middleware's default user id (the authenticated user's pk) is used.
"""

from __future__ import annotations

import os

SECRET_KEY = "tests-only"  # noqa: S105 - a test project
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.integrations.web.apps.djsite.urls"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True
MIDDLEWARE = [
    "tests.integrations.web.apps.djsite.middleware.HeaderUserMiddleware",
    "tests.integrations.web.apps.djsite.middleware.RecordedSnowplowMiddleware",
]
SNOWPLOW_TRUSTED_PROXIES = ["127.0.0.1"]
SNOWPLOW_PAGE_ENTITY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "snowplow": {
            "class": "snowplow_logging.SnowplowHandler",
            "endpoint": os.environ["SNOWPLOW_URL"],
            "app_id": "django",
            "capture_exceptions": True,
            "flush_interval": 0.05,
        }
    },
    "loggers": {
        "web.django": {"handlers": ["snowplow"], "level": "INFO", "propagate": False},
        "django.request": {
            "handlers": ["snowplow"],
            "level": "ERROR",
            "propagate": False,
        },
    },
}
