"""Views of the Threads connect flow: start (to threads.net's authorize page) and the
callback. The logic lives in networks/threads/connect.py."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.views import workspace_view
from networks.threads import connect


def _error(request: HttpRequest, message: str, *, status: int = 400) -> HttpResponse:
    return render(
        request, "networks/threads/connect_error.html", {"message": message}, status=status
    )


@never_cache
@workspace_view
@require_GET
def threads_connect(request: HttpRequest) -> HttpResponse:
    if not request.can_edit:
        return redirect("account_list")
    try:
        url = connect.authorize_url(
            session=request.session,
            workspace=request.workspace,
            redirect_uri=request.build_absolute_uri(reverse("threads_connect_callback")),
            user_id=request.user.id,
        )
    except connect.ConnectError as exc:
        return _error(request, exc.message, status=503)
    return redirect(url)


@never_cache
@workspace_view
@require_GET
def threads_connect_callback(request: HttpRequest) -> HttpResponse:
    try:
        account = connect.authorize_finish(
            session=request.session,
            user=request.user,
            state=request.GET.get("state"),
            code=request.GET.get("code"),
            error=request.GET.get("error"),
            error_description=request.GET.get("error_description"),
        )
    except connect.ConnectError as exc:
        return _error(request, exc.message)
    messages.success(request, f"Connected @{account.handle} on Threads.")
    return redirect("account_list")
