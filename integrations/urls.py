"""Webhook endpoint pages, included from queueloop/urls.py."""

from django.urls import path

from integrations import views

urlpatterns = [
    path("integrations/endpoints/", views.endpoint_list, name="endpoint_list"),
    path(
        "integrations/endpoints/<int:endpoint_id>/", views.endpoint_detail, name="endpoint_detail"
    ),
    path(
        "integrations/endpoints/<int:endpoint_id>/delete/",
        views.endpoint_delete,
        name="endpoint_delete",
    ),
    path(
        "integrations/endpoints/<int:endpoint_id>/secret/",
        views.endpoint_rotate_secret,
        name="endpoint_rotate_secret",
    ),
    path(
        "integrations/endpoints/<int:endpoint_id>/deliveries/<int:delivery_id>/resend/",
        views.delivery_resend,
        name="event_delivery_resend",
    ),
]
