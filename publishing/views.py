from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.models import SocialAccount
from accounts.views import workspace_view
from networks.sandbox import THREAD_SEPARATOR
from publishing.models import SandboxPost

# Seconds between two refreshes of an open timeline: the demo publishes every 5 minutes.
TIMELINE_POLL = 15
TIMELINE_LENGTH = 200


@workspace_view
def sandbox_timeline(request: HttpRequest, account_id: int) -> HttpResponse:
    """What the sandbox network 'published' for one account, newest first; the page
    refreshes its timeline itself (htmx polling, TIMELINE_POLL)."""
    account = get_object_or_404(
        SocialAccount,
        id=account_id,
        provider=SocialAccount.Provider.SANDBOX,
        workspace=request.workspace,
    )
    posts = (
        SandboxPost.objects.filter(account=account)
        .select_related("delivery__timeslot__channel")
        .prefetch_related("delivery__post__images")[:TIMELINE_LENGTH]
    )
    posts = list(posts)
    for post in posts:
        # A thread is one row (one delivery), its parts joined: shown as its parts again.
        threaded = post.delivery is not None and post.delivery.thread_parts
        post.parts = post.text.split(THREAD_SEPARATOR) if threaded else [post.text]
    others = SocialAccount.objects.filter(
        workspace=request.workspace, provider=SocialAccount.Provider.SANDBOX
    ).exclude(id=account.id)
    return render(
        request,
        "publishing/sandbox_timeline.html",
        {"account": account, "posts": posts, "others": others, "poll": TIMELINE_POLL},
    )
