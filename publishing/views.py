from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from accounts.models import SocialAccount
from publishing.models import SandboxPost


@login_required
def sandbox_timeline(request, account_id: int):
    account = get_object_or_404(
        SocialAccount,
        id=account_id,
        provider=SocialAccount.Provider.SANDBOX,
        workspace__memberships__user=request.user,
    )
    posts = SandboxPost.objects.filter(account=account)[:200]
    return render(request, "publishing/sandbox_timeline.html", {"account": account, "posts": posts})
