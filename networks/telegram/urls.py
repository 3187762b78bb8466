"""URLs of the Telegram connect flow, under /connect/telegram/."""

from django.urls import path

from networks.telegram import views

urlpatterns = [
    path("", views.telegram_connect, name="telegram_connect"),
]
