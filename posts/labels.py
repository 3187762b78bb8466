"""Label writes (issue 27, item 5): a workspace's coloured labels and the labels of a post.

The web pages, the API and the composer call these; each writes its activity entry.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.activity import activity_record
from accounts.models import ActivityAction, Workspace
from posts.models import MAX_LABEL_NAME, Label, LabelColor, Post

NAME_TAKEN = "This workspace already has a label with that name."


def _clean(*, workspace_id: int, name: str, color: str, exclude_id: int | None = None) -> str:
    name = " ".join((name or "").split())
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "A label needs a name."
    elif len(name) > MAX_LABEL_NAME:
        errors["name"] = f"A label's name has at most {MAX_LABEL_NAME} characters."
    elif "\x00" in name:
        errors["name"] = "The name contains a NUL character."
    elif (
        Label.objects.filter(workspace_id=workspace_id, name__iexact=name)
        .exclude(pk=exclude_id)
        .exists()
    ):
        errors["name"] = NAME_TAKEN
    if color not in LabelColor.values:
        errors["color"] = "Pick one of the palette's colours: " + ", ".join(LabelColor.values)
    if errors:
        raise ValidationError(errors)
    return name


def _save(label: Label) -> None:
    try:
        with transaction.atomic():
            label.save()
    except IntegrityError:  # a concurrent save took the name since the check
        raise ValidationError({"name": NAME_TAKEN}) from None


@transaction.atomic
def label_create(*, workspace: Workspace, name: str, color: str = LabelColor.BLUE) -> Label:
    name = _clean(workspace_id=workspace.id, name=name, color=color)
    label = Label(workspace=workspace, name=name, color=color)
    _save(label)
    activity_record(
        workspace_id=workspace.id,
        action=ActivityAction.LABEL_CREATED,
        target=name,
        details={"label_id": label.pk, "color": color},
    )
    return label


@transaction.atomic
def label_update(*, label: Label, name: str, color: str) -> Label:
    name = _clean(workspace_id=label.workspace_id, name=name, color=color, exclude_id=label.pk)
    before = {"name": label.name, "color": label.color}
    label.name, label.color = name, color
    _save(label)
    activity_record(
        workspace_id=label.workspace_id,
        action=ActivityAction.LABEL_EDITED,
        target=name,
        details={"label_id": label.pk, "before": before, "color": color},
    )
    return label


@transaction.atomic
def label_delete(*, label: Label) -> None:
    """Delete a label; the posts keep everything else."""
    activity_record(
        workspace_id=label.workspace_id,
        action=ActivityAction.LABEL_DELETED,
        target=label.name,
        details={"label_id": label.pk},
    )
    label.delete()


@transaction.atomic
def post_labels_set(*, post: Post, labels: Iterable[Label]) -> bool:
    """Put exactly these labels on the post (all of its workspace); True when they changed."""
    labels = list(labels)
    foreign = [lb.name for lb in labels if lb.workspace_id != post.workspace_id]
    if foreign:
        raise ValidationError({"labels": f"Unknown label(s): {', '.join(foreign)}"})
    wanted = {lb.pk for lb in labels}
    current = set(post.labels.values_list("pk", flat=True))
    if wanted == current:
        return False
    post.labels.set(labels)
    activity_record(
        workspace_id=post.workspace_id,
        action=ActivityAction.POST_LABELED,
        post=post,
        details={"labels": sorted(lb.name for lb in labels)},
    )
    return True


MAX_LABELS_PER_POST = 20


def labels_resolve(*, workspace_id: int, ids) -> list[Label]:
    """The workspace's labels with these ids (API and forms); an unknown or foreign id is a
    ValidationError on `labels`, so another workspace's label is never put on a post."""
    ids = list(dict.fromkeys(ids))
    if len(ids) > MAX_LABELS_PER_POST:
        raise ValidationError({"labels": f"A post has at most {MAX_LABELS_PER_POST} labels."})
    found = {lb.pk: lb for lb in Label.objects.filter(workspace_id=workspace_id, pk__in=ids)}
    unknown = [str(i) for i in ids if i not in found]
    if unknown:
        raise ValidationError({"labels": f"Unknown label(s): {', '.join(unknown)}."})
    return [found[i] for i in ids]


def label_from_query(params, labels: Iterable[Label]) -> Label | None:
    """The `label` filter of a page's query string: one of the workspace's `labels` (already
    loaded for the filter's menu), or None when absent, unreadable or another workspace's."""
    raw = (params.get("label") or "").strip()
    return next((lb for lb in labels if str(lb.pk) == raw), None) if raw.isdigit() else None
