"""/settings/tokens/: the person's API token — see it (by its start), make one (shown
once, in the answer to the POST: never stored in the session, a message or the database,
which keeps only its digest), revoke it."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import services
from accounts.models import ApiToken
from accounts.views import workspace_view


def _page(request: HttpRequest, *, new_key: str = "") -> HttpResponse:
    token = ApiToken.objects.filter(user=request.user).first()
    return render(
        request,
        "accounts/api_tokens.html",
        {"token": token, "token_start": token.prefix if token else "", "new_key": new_key},
    )


# A token is the person's own, whatever their role: viewers may make one (the API lets them
# read only, as the web UI does).
@never_cache
@workspace_view(viewers_may_post=True)
def api_tokens(request: HttpRequest) -> HttpResponse:
    return _page(request)


@never_cache
@workspace_view(viewers_may_post=True)
@require_POST
def api_token_create(request: HttpRequest) -> HttpResponse:
    key = services.api_token_create(user=request.user)
    return _page(request, new_key=key)


@workspace_view(viewers_may_post=True)
@require_POST
def api_token_revoke(request: HttpRequest) -> HttpResponse:
    if services.api_token_revoke(user=request.user):
        messages.success(request, "API token revoked: scripts using it are refused from now on.")
    else:
        messages.info(request, "You had no API token.")
    return redirect("api_tokens")
