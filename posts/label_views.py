"""The labels page: a workspace's coloured labels, made, renamed, recoloured and deleted by
owners and editors (viewers see them; workspace_view refuses their POSTs)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.views import workspace_view
from posts import labels as services
from posts.models import LABEL_TEXT_COLOR, Label, LabelColor


def _page(request: HttpRequest, *, errors=(), values=None, status: int = 200) -> HttpResponse:
    labels = list(
        Label.objects.filter(workspace=request.workspace)
        .annotate(n_posts=Count("posts"))
        .order_by("name", "id")
    )
    return render(
        request,
        "posts/labels.html",
        {
            "labels": labels,
            "palette": LabelColor.choices,
            "text_color": LABEL_TEXT_COLOR,
            "errors": list(errors),
            "values": values or {"name": "", "color": LabelColor.BLUE},
        },
        status=status,
    )


@workspace_view
@require_http_methods(["GET", "POST"])
def label_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        values = {"name": request.POST.get("name", ""), "color": request.POST.get("color", "")}
        try:
            label = services.label_create(workspace=request.workspace, **values)
        except ValidationError as exc:
            return _page(request, errors=exc.messages, values=values, status=400)
        messages.success(request, f"Label “{label.name}” added.")
        return redirect("label_list")
    return _page(request)


@workspace_view
@require_POST
def label_edit(request: HttpRequest, label_id: int) -> HttpResponse:
    label = get_object_or_404(Label, id=label_id, workspace=request.workspace)
    try:
        services.label_update(
            label=label,
            name=request.POST.get("name", ""),
            color=request.POST.get("color", ""),
        )
    except ValidationError as exc:
        return _page(request, errors=exc.messages, status=400)
    messages.success(request, f"Label “{label.name}” saved.")
    return redirect("label_list")


@workspace_view
@require_POST
def label_delete(request: HttpRequest, label_id: int) -> HttpResponse:
    label = get_object_or_404(Label, id=label_id, workspace=request.workspace)
    services.label_delete(label=label)
    messages.success(request, f"Label “{label.name}” deleted.")
    return redirect("label_list")
