"""The workspace's webhook endpoints (owners only): add, edit, delete, see each one's
recent attempts with their answers, and resend one. Thin: integrations.services and
integrations.sending do the work."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Membership
from accounts.views import workspace_view
from integrations import sending, services
from integrations.forms import EndpointForm
from integrations.models import Attempt, Endpoint, EventDelivery

RECENT_ATTEMPTS = 50
OWNERS_ONLY = "Only the workspace's owners manage its webhook endpoints."


def _owner(request: HttpRequest) -> None:
    if request.membership.role != Membership.Role.OWNER:
        raise PermissionDenied(OWNERS_ONLY)


def _endpoint(request: HttpRequest, endpoint_id: int) -> Endpoint:
    _owner(request)
    return get_object_or_404(Endpoint, id=endpoint_id, workspace=request.workspace)


def _apply_errors(form: EndpointForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@workspace_view
@require_http_methods(["GET", "POST"])
def endpoint_list(request: HttpRequest) -> HttpResponse:
    _owner(request)
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.endpoint_create(
                workspace=request.workspace,
                url=form.cleaned_data["url"],
                event_types=form.cleaned_data["event_types"],
                description=form.cleaned_data["description"],
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Endpoint added. Its signing secret is on its page.")
            return redirect("endpoint_detail", endpoint.id)
    endpoints = Endpoint.objects.filter(workspace=request.workspace)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "integrations/endpoint_list.html",
        {"endpoints": endpoints, "form": form},
        status=status,
    )


@workspace_view
@require_http_methods(["GET", "POST"])
def endpoint_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    initial = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "is_active": endpoint.is_active,
    }
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_update(endpoint=endpoint, **form.cleaned_data)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("endpoint_detail", endpoint.id)
    attempts = (
        Attempt.objects.filter(delivery__endpoint=endpoint)
        .select_related("delivery__event")
        .order_by("-at", "-id")[:RECENT_ATTEMPTS]
    )
    return render(
        request,
        "integrations/endpoint_detail.html",
        {"endpoint": endpoint, "form": form, "attempts": attempts},
        status=400 if request.method == "POST" else 200,
    )


@workspace_view
@require_POST
def endpoint_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    services.endpoint_delete(endpoint=endpoint)
    messages.success(request, f"Endpoint {endpoint.url} deleted.")
    return redirect("endpoint_list")


@workspace_view
@require_POST
def endpoint_rotate_secret(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    services.endpoint_rotate_secret(endpoint=endpoint)
    messages.success(request, "New secret made: update your receiver.")
    return redirect("endpoint_detail", endpoint.id)


@workspace_view
@require_POST
def delivery_resend(request: HttpRequest, endpoint_id: int, delivery_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    delivery = get_object_or_404(EventDelivery, id=delivery_id, endpoint=endpoint)
    sending.delivery_resend(delivery=delivery)
    messages.success(request, f"{delivery.event.event_id} will be sent again.")
    return redirect("endpoint_detail", endpoint.id)
