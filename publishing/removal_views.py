"""Delete a channel or a post that never published: a confirm page, then the POST.
Owners only (editors archive or pause); another workspace's object is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.models import Membership
from accounts.views import workspace_view
from channels.models import Channel
from posts.models import Post, word_preview
from publishing import removal


def _owners_only(request: HttpRequest) -> None:
    if request.membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only the workspace's owners can delete.")


@workspace_view
def channel_delete(request: HttpRequest, channel_id: int) -> HttpResponse:
    _owners_only(request)
    channel = get_object_or_404(Channel, id=channel_id, workspace=request.workspace)
    if request.method == "POST":
        try:
            removal.channel_delete(channel=channel)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("channel_settings", channel.id)
        messages.success(request, f"Channel {channel.name} deleted.")
        return redirect("channel_list")
    return render(
        request,
        "publishing/confirm_delete.html",
        {
            "what": f"the channel {channel.name}",
            "title": f"Delete {channel.name}?",
            "details": "Its schedules, its queue (the posts themselves stay) and its coming "
            "slots are deleted. This cannot be undone.",
            "alternative": "Pause it instead to keep it for later.",
            "cancel_url": f"/channels/{channel.id}/settings/",
        },
    )


@workspace_view
def post_delete(request: HttpRequest, post_id: int) -> HttpResponse:
    _owners_only(request)
    post = get_object_or_404(Post, id=post_id, workspace=request.workspace)
    if request.method == "POST":
        try:
            removal.post_delete(post=post)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("post_list")
        messages.success(request, f"Post “{word_preview(post.text)}” deleted.")
        return redirect("post_list")
    return render(
        request,
        "publishing/confirm_delete.html",
        {
            "what": "this post",
            "title": "Delete this post?",
            "quote": word_preview(post.text, 200),
            "details": "It leaves every queue, its pinned slots are deleted, and so are its "
            "variations and images. This cannot be undone.",
            "alternative": "Archive it instead to keep it out of the queues but keep it.",
            "cancel_url": "/posts/",
        },
    )
