"""Web pages of the emergency stop and blackout dates: one "Publishing controls" page per
workspace (everyone reads it; owners stop, resume and edit blackouts), a confirmation page
before the stop, and the stop's answer (the cutoff, what was claimed before it)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.models import Membership
from accounts.views import workspace_view
from publishing.stop_answer import GUARANTEE, in_flight
from publishing.stopping import services as stop_services
from scheduling import blackouts, stops
from scheduling.models import Blackout, Stop


def _owners_only(request: HttpRequest) -> None:
    if request.membership.role != Membership.Role.OWNER:
        raise PermissionDenied(
            "Only the workspace's owners can stop publishing or black out dates."
        )


class BlackoutForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What it is for, e.g. “Christmas”.")
    starts_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), help_text="The last day, included."
    )
    timezone = forms.CharField(
        max_length=64,
        required=False,
        help_text="The days' zone (IANA, e.g. Europe/Berlin); empty: your channels' zone.",
    )


def _page(request: HttpRequest, *, form: BlackoutForm | None = None, status: int = 200):
    workspace = request.workspace
    active = stops.active_stop(workspace=workspace)
    instance = stops.active_stop(workspace=None)
    return render(
        request,
        "publishing/publishing_controls.html",
        {
            "active": active,
            "instance_stop": instance,
            "in_flight": in_flight(active) if active else [],
            "guarantee": GUARANTEE,
            "history": Stop.objects.filter(workspace=workspace)[:10],
            "blackouts": Blackout.objects.filter(workspace=workspace),
            "form": form or BlackoutForm(),
            "is_owner": request.membership.role == Membership.Role.OWNER,
        },
        status=status,
    )


@workspace_view
def publishing_controls(request: HttpRequest) -> HttpResponse:
    return _page(request)


@workspace_view
def publishing_stop(request: HttpRequest) -> HttpResponse:
    _owners_only(request)
    if request.method != "POST":
        return render(request, "publishing/confirm_stop.html", {})
    if request.POST.get("confirm", "").strip() != request.workspace.slug:
        messages.error(request, "Type the workspace's short name to confirm the stop.")
        return render(request, "publishing/confirm_stop.html", {}, status=400)
    try:
        stop = stop_services.publishing_stop(workspace=request.workspace, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("publishing_controls")
    messages.warning(
        request,
        f"Publishing stopped. Nothing publishes after {stop.cutoff_at:%Y-%m-%d %H:%M:%S.%f} UTC.",
    )
    return redirect("publishing_controls")


@workspace_view
def publishing_resume(request: HttpRequest) -> HttpResponse:
    _owners_only(request)
    if request.method != "POST":
        return redirect("publishing_controls")
    try:
        done = stops.publishing_resume(workspace=request.workspace, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("publishing_controls")
    messages.success(
        request,
        f"Publishing resumed: {done.revived} coming slot(s) scheduled again; what fell in the "
        "stop is not published late.",
    )
    return redirect("publishing_controls")


@workspace_view
def blackout_add(request: HttpRequest) -> HttpResponse:
    _owners_only(request)
    if request.method != "POST":
        return redirect("publishing_controls")
    form = BlackoutForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            blackout, stopped = blackouts.blackout_add(
                workspace=request.workspace,
                user=request.user,
                name=data["name"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                zone=data["timezone"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items() if hasattr(exc, "error_dict") else []:
                form.add_error(field if field in form.fields else None, errors)
            if not hasattr(exc, "error_dict"):
                form.add_error(None, exc.messages)
        else:
            messages.success(
                request,
                f"Blackout “{blackout.name}” added; {stopped} planned slot(s) in it skipped.",
            )
            return redirect("publishing_controls")
    return _page(request, form=form, status=400)


@workspace_view
def blackout_delete(request: HttpRequest, blackout_id: int) -> HttpResponse:
    _owners_only(request)
    blackout = get_object_or_404(Blackout, id=blackout_id, workspace=request.workspace)
    if request.method == "POST":
        blackouts.blackout_delete(blackout=blackout, user=request.user)
        messages.success(request, f"Blackout “{blackout.name}” deleted.")
    return redirect("publishing_controls")
