from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.models import SocialAccount
from accounts.views import workspace_view
from publishing.models import SandboxPost

TIMELINE_LENGTH = 200


@workspace_view
def sandbox_timeline(request: HttpRequest, account_id: int) -> HttpResponse:
    """What the sandbox network 'published' for one account, newest first."""
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
    others = SocialAccount.objects.filter(
        workspace=request.workspace, provider=SocialAccount.Provider.SANDBOX
    ).exclude(id=account.id)
    return render(
        request,
        "publishing/sandbox_timeline.html",
        {"account": account, "posts": posts, "others": others},
    )
