"""URLs of the Threads connect flow, under /connect/threads/."""

from django.urls import path

from networks.threads import views

urlpatterns = [
    path("", views.threads_connect, name="threads_connect"),
    path("callback/", views.threads_connect_callback, name="threads_connect_callback"),
]
