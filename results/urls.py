from django.urls import path

from results import views

urlpatterns = [
    path("posts/<int:post_id>/results/", views.post_results, name="post_results"),
]
