"""The test project's URLs."""

from __future__ import annotations

from django.urls import path

from tests.integrations.web.apps.djsite import views

urlpatterns = [
    path("health", views.health),
    path("event/<str:label>", views.event),
    path("overlap/<str:label>", views.overlap),
    path("stream/<str:label>", views.stream),
    path("boom/<str:label>", views.boom),
    path("flush", views.flush),
]
