"""The buttons on a delivery that needs a person (dashboard and Accounts page): thin views
over publishing/problems.py. Viewers get 403 (workspace_view); another workspace's
delivery is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from accounts.views import redirect_back, workspace_view
from publishing import problems
from publishing.models import Delivery

DONE = {
    "retry_now": "Sending it again now.",
    "give_up": "Given up: the delivery is failed.",
    "mark_sent": "Marked sent.",
    "mark_failed": "Marked not sent. You can retry it now.",
    "retry": "Trying it again now.",
}


def _act(request: HttpRequest, delivery_id: int, action: str) -> HttpResponse:
    user = request.user.get_username()
    kwargs = {"workspace": request.workspace, "delivery_id": delivery_id}
    service = {
        "retry_now": lambda: problems.delivery_retry_now(**kwargs),
        "give_up": lambda: problems.delivery_give_up(**kwargs, user=user),
        "mark_sent": lambda: problems.delivery_mark_sent(**kwargs, user=user),
        "mark_failed": lambda: problems.delivery_mark_failed(**kwargs, user=user),
        "retry": lambda: problems.delivery_retry(**kwargs),
    }[action]
    try:
        delivery = service()
    except Delivery.DoesNotExist:
        raise Http404("No such delivery.") from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{delivery.account}: {DONE[action]}")
    return redirect_back(request, "dashboard")


@workspace_view
@require_POST
def delivery_retry_now(request: HttpRequest, delivery_id: int) -> HttpResponse:
    return _act(request, delivery_id, "retry_now")


@workspace_view
@require_POST
def delivery_give_up(request: HttpRequest, delivery_id: int) -> HttpResponse:
    return _act(request, delivery_id, "give_up")


@workspace_view
@require_POST
def delivery_mark_sent(request: HttpRequest, delivery_id: int) -> HttpResponse:
    return _act(request, delivery_id, "mark_sent")


@workspace_view
@require_POST
def delivery_mark_failed(request: HttpRequest, delivery_id: int) -> HttpResponse:
    return _act(request, delivery_id, "mark_failed")


@workspace_view
@require_POST
def delivery_retry(request: HttpRequest, delivery_id: int) -> HttpResponse:
    return _act(request, delivery_id, "retry")
