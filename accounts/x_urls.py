"""URLs of the X connect flow (OAuth 2.0 PKCE and pasted OAuth 1.0a keys)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
