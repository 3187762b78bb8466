"""The results page of a post: its deliveries' latest counts and a chart of their growth."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.views import workspace_view
from posts.models import Post
from publishing.models import Delivery
from results.charts import post_chart
from results.selectors import latest, post_deliveries

# The page shows a post's newest deliveries (an evergreen post loops for years).
PAGE_DELIVERIES = 200


@workspace_view
def post_results(request: HttpRequest, post_id: int) -> HttpResponse:
    post = Post.objects.filter(id=post_id, workspace=request.workspace).first()
    if post is None:
        raise Http404("No such post in this workspace.")
    deliveries = list(
        post_deliveries(post.id)
        .filter(status=Delivery.Status.SENT)
        .select_related("timeslot__channel")[:PAGE_DELIVERIES]
    )
    rows = [{"delivery": d, "latest": latest(d)} for d in deliveries]
    return render(
        request,
        "results/post_results.html",
        {"post": post, "rows": rows, "chart": post_chart(deliveries), "limit": PAGE_DELIVERIES},
    )
