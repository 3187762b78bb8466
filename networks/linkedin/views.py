"""Views of the LinkedIn connect flow: a page offering the profile or a page, the start
(to LinkedIn's authorization page), the callback, and the choice of the member or one page.
The logic lives in networks/linkedin/connect.py; these views read the request and render."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.views import workspace_view
from networks.linkedin import connect


def _error(request: HttpRequest, message: str, *, status: int = 400) -> HttpResponse:
    return render(
        request, "networks/linkedin/connect_error.html", {"message": message}, status=status
    )


@never_cache
@workspace_view
@require_GET
def linkedin_connect(request: HttpRequest) -> HttpResponse:
    if not request.can_edit:
        return redirect("account_list")
    return render(request, "networks/linkedin/connect.html", {"configured": connect.configured()})


@never_cache
@workspace_view
@require_GET
def linkedin_connect_start(request: HttpRequest) -> HttpResponse:
    if not request.can_edit:
        return _error(request, "Viewers cannot connect accounts.", status=403)
    try:
        url = connect.authorize_url(
            session=request.session,
            workspace=request.workspace,
            redirect_uri=request.build_absolute_uri(reverse("linkedin_connect_callback")),
            user_id=request.user.id,
            pages=request.GET.get("pages") == "1",
        )
    except connect.ConnectError as exc:
        return _error(request, exc.message, status=503)
    return redirect(url)


@never_cache
@workspace_view
@require_GET
def linkedin_connect_callback(request: HttpRequest) -> HttpResponse:
    try:
        choices = connect.authorize_finish(
            session=request.session,
            user=request.user,
            state=request.GET.get("state"),
            code=request.GET.get("code"),
            error=request.GET.get("error"),
            error_description=request.GET.get("error_description"),
        )
    except connect.ConnectError as exc:
        return _error(request, exc.message)
    if len(choices) == 1 and not connect.asked_for_pages(request.session):
        # The profile alone was asked for: nothing to choose.
        return _store(request, choices[0]["author"])
    return redirect("linkedin_connect_choose")


def _store(request: HttpRequest, author: str) -> HttpResponse:
    try:
        account = connect.choose(session=request.session, user=request.user, author=author)
    except connect.ConnectError as exc:
        return _error(request, exc.message)
    name = account.options.get("name") or account.handle
    if account.options.get("kind") == connect.AuthorKind.ORGANIZATION:
        messages.success(request, f"Connected the page {name} on LinkedIn.")
    else:
        messages.success(request, f"Connected {name} on LinkedIn.")
    return redirect("account_list")


@never_cache
@workspace_view
@require_http_methods(["GET", "POST"])
def linkedin_connect_choose(request: HttpRequest) -> HttpResponse:
    choices = connect.pending_choices(request.session, request.user.id)
    if request.method == "POST":
        author = request.POST.get("author", "")
        if not author:
            return render(
                request,
                "networks/linkedin/choose.html",
                {"choices": choices, "error": "Pick your profile or one of the pages."},
                status=400,
            )
        return _store(request, author)
    if not choices:
        return _error(
            request,
            "There is no LinkedIn sign-in waiting for a choice (or it is over 10 minutes old): "
            "start connecting again.",
        )
    return render(
        request,
        "networks/linkedin/choose.html",
        {"choices": choices, "pages_asked": connect.asked_for_pages(request.session)},
    )
