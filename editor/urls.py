"""The post editor's pages: the post list, the composer, its live length and preview, and a
post's images. Included by queueloop/urls.py without a namespace, so the names stay
`post_list`, `post_edit`, ... as every template and reverse() uses them."""

from django.urls import path

from editor import image_views, review_views, views

urlpatterns = [
    path("posts/", views.post_list, name="post_list"),
    path("posts/new/", views.post_create, name="post_create"),
    path("posts/length/", views.post_length, name="post_length"),
    path("posts/preview/", views.post_preview, name="post_preview"),
    path("posts/<int:post_id>/", views.post_edit, name="post_edit"),
    path("posts/<int:post_id>/share/", views.post_share, name="post_share"),
    path("posts/<int:post_id>/images/", image_views.post_images, name="post_images"),
    # One view per review action (submit, approve, changes), named apart for reverse().
    *[
        path(
            f"posts/<int:post_id>/review/{action}/",
            review_views.post_review,
            {"action": action},
            name=f"post_review_{action}",
        )
        for action in ("submit", "approve", "changes")
    ],
    path("posts/<int:post_id>/comments/", review_views.post_comment, name="post_comment"),
    path("review/", review_views.review_queue, name="review_queue"),
    path("review/link/<str:token>/", review_views.review_link, name="review_link"),
    path(
        "posts/<int:post_id>/images/<int:image_id>/alt/",
        image_views.post_image_alt,
        name="post_image_alt",
    ),
    path(
        "posts/<int:post_id>/images/<int:image_id>/remove/",
        image_views.post_image_remove,
        name="post_image_remove",
    ),
]
