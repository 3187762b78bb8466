"""URLs of the LinkedIn connect flow, under /connect/linkedin/."""

from django.urls import path

from networks.linkedin import views

urlpatterns = [
    path("", views.linkedin_connect, name="linkedin_connect"),
    path("start/", views.linkedin_connect_start, name="linkedin_connect_start"),
    path("callback/", views.linkedin_connect_callback, name="linkedin_connect_callback"),
    path("choose/", views.linkedin_connect_choose, name="linkedin_connect_choose"),
]
