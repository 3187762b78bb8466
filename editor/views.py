"""Post pages: the list, compose/edit (with a live X length counter and per-network counters
and previews), share now."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.models import SocialAccount
from accounts.views import redirect_back, workspace_view
from channels.models import Channel
from editor import services as compose
from editor.forms import PostForm, uploads_from
from editor.services import (
    PartCount,
    network_counts,
    split_thread,
)
from ground.validation import error_messages
from ground.zones import iana_zone_names
from links.services import clicks_annotation
from networks import get_provider, image_type_problem, needs_image
from networks.webhook import image_url_problem
from networks.x.adapter import provider as x_provider
from posts import media
from posts.comments import thread_context
from posts.labels import label_from_query
from posts.models import MAX_THREAD_PARTS, Label, Post, word_preview
from publishing.models import Delivery
from scheduling import blackouts, selectors

PAGE_SIZE = 50
SHARE_MENU_MAX = 20  # channels a row's "Share now" lists when the post is in no queue


@workspace_view
def post_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in Post.Status.values:
        status = ""
    search = request.GET.get("q", "").strip()
    labels = list(Label.objects.filter(workspace=request.workspace))
    label = label_from_query(request.GET, labels)
    posts = selectors.posts_for_list(
        workspace=request.workspace,
        status=status,
        search=search,
        label_id=label.id if label else None,
    )
    page = Paginator(posts, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = selectors.variation_counts(post_ids=[p.id for p in page.object_list])
    # A drop-down of every channel on every row was 50 x 150 options at agency size: a
    # row offers its own channels, or all of a small workspace's; else the editor's picker.
    few = list(Channel.objects.filter(workspace=request.workspace)[: SHARE_MENU_MAX + 1])
    many = len(few) > SHARE_MENU_MAX
    for post in page.object_list:
        post.variation_count = counts.get(post.id, 0)
        # Share now offers the post's own channel first (the queue it is in), not the
        # workspace's first channel.
        entries = sorted(post.entries.all(), key=lambda e: not e.is_active)
        post.share_channel_id = entries[0].channel_id if entries else None
        own = {e.channel_id: e.channel for e in entries}
        post.share_channels = list(own.values()) if many else few
    return render(
        request,
        "posts/post_list.html",
        {
            "page": page,
            "posts": page.object_list,
            "status": status,
            "q": search,
            "statuses": Post.Status.choices,
            "share_via_editor": many,
            "labels": labels,
            "label": label,
        },
    )


def _compose_response(request, form: PostForm, post: Post | None) -> HttpResponse:
    return render(
        request,
        "posts/post_form.html",
        {
            "form": form,
            "post": post,
            "x_limit": x_provider.max_length,
            "images": list(post.images.all()) if post is not None else [],
            "max_images": media.MAX_IMAGES,
            "max_alt": media.MAX_ALT_TEXT,
            # Its review state and comment thread (posts/_review.html).
            "review": (thread_context(post=post, role=request.membership.role) if post else None),
            "clicks": _clicks(post) if post is not None else [],
        },
        status=400 if form.errors else 200,
    )


MAX_CLICK_ROWS = 50


def _clicks(post: Post) -> list[Delivery]:
    """The post's deliveries that hold short links (links/), newest first, each with its
    counted clicks: the page's "Clicks" section (empty without click counting)."""
    return list(
        Delivery.objects.filter(post=post, short_links__isnull=False)
        .distinct()
        .select_related("account", "timeslot__channel")
        .annotate(clicks=clicks_annotation())
        .order_by("-created_at", "-id")[:MAX_CLICK_ROWS]
    )


def _saved_message(request, form: PostForm, post: Post, share_now: bool) -> None:
    channels = [c.name for c in form.cleaned_data["channels"]]
    pin_at = form.cleaned_data.get("pin_at")
    added = len(request.FILES.getlist("images"))
    if added:
        messages.info(
            request,
            f"{added} image(s) added to “{word_preview(post.text)}”: each is processed in "
            "the background and shows “processing” on its Images page until it is ready.",
        )
    if share_now:
        messages.success(request, f"Sharing now to {', '.join(channels)}.")
    elif pin_at:
        messages.success(
            request,
            f"Pinned to {pin_at:%a %d %b %Y %H:%M} ({form.zone_name()}) on {', '.join(channels)}.",
        )
        pins = post.pinned_timeslots.select_related("channel").filter(status="scheduled")
        if flag := blackouts.flag_for(pins):  # a pin inside a blackout date
            messages.warning(request, flag)
    elif channels:
        messages.success(request, f"Saved and queued in {', '.join(channels)}.")
    else:
        messages.success(request, "Saved. Assign it to a channel to publish it.")


def _pin_prefill(request: HttpRequest) -> dict:
    """A calendar's empty time links here with ?pin_at=2026-12-07T10:00&tz=Europe/Paris.

    Unreadable values are ignored (the form starts empty), like unknown channel ids.
    """
    try:
        # A wall time: the form reads it in the calendar's zone (pin_tz).
        pin_at = dt.datetime.strptime(request.GET.get("pin_at", ""), "%Y-%m-%dT%H:%M")  # noqa: DTZ007
    except ValueError:
        return {}
    zone = request.GET.get("tz", "")
    return {"pin_at": pin_at, "pin_tz": zone if zone in iana_zone_names() else ""}


@workspace_view
def post_create(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        initial = {}
        if request.GET.get("channel"):
            # Ids from a link: anything that is not a number is ignored, not a 500.
            ids = [i for i in request.GET.getlist("channel") if i.isascii() and i.isdigit()]
            initial["channels"] = Channel.objects.filter(workspace=request.workspace, id__in=ids)
        initial.update(_pin_prefill(request))
        return _compose_response(
            request, PostForm(workspace=request.workspace, initial=initial), None
        )
    form = PostForm(request.POST, workspace=request.workspace)
    share_now = request.POST.get("action") == "share_now"
    if form.is_valid():
        try:
            post = form.save(author=request.user, share_now=share_now, images=uploads_from(request))
        except ValidationError:
            pass
        else:
            _saved_message(request, form, post, share_now)
            return redirect("post_list")
    return _compose_response(request, form, None)


@workspace_view
def post_edit(request: HttpRequest, post_id: int) -> HttpResponse:
    post = selectors.post_for_edit(workspace=request.workspace, post_id=post_id)
    if post is None:
        raise Http404("No such post in this workspace.")
    if request.method != "POST":
        return _compose_response(request, PostForm(workspace=request.workspace, post=post), post)
    form = PostForm(request.POST, workspace=request.workspace, post=post)
    share_now = request.POST.get("action") == "share_now"
    if form.is_valid():
        try:
            form.save(author=request.user, share_now=share_now, images=uploads_from(request))
        except ValidationError:
            pass
        else:
            _saved_message(request, form, post, share_now)
            return redirect("post_list")
    return _compose_response(request, form, post)


@workspace_view
@require_POST
def post_share(request: HttpRequest, post_id: int) -> HttpResponse:
    """Share an existing post now on one channel (a pinned slot at this moment)."""
    post = get_object_or_404(Post, id=post_id, workspace=request.workspace)
    channel_id = request.POST.get("channel", "")
    if not (channel_id.isascii() and channel_id.isdigit()):
        return HttpResponseBadRequest("Choose a channel.")
    channel = get_object_or_404(Channel, id=channel_id, workspace=request.workspace)
    try:
        compose.post_share(post=post, channel=channel)
    except ValidationError as exc:
        messages.error(request, " ".join(error_messages(exc)))
    else:
        messages.success(request, f"Sharing “{word_preview(post.text)}” on {channel.name} now.")
    return redirect_back(request, "post_list")


@workspace_view
@require_GET
def post_length(request: HttpRequest) -> HttpResponse:
    """htmx: X's exact weighted length of the text (twitter-text v3), for the counter."""
    text = request.GET.get("text")
    if text is None:
        text = next(iter(request.GET.getlist("variations")), "")
    count = x_provider.text_length(text) if text else 0
    return render(
        request,
        "posts/_length.html",
        {
            "count": count,
            "limit": x_provider.max_length,
            "remaining": x_provider.max_length - count,
            "over": count > x_provider.max_length,
        },
    )


MAX_PREVIEW_TEXT = 50_000
# A network row's first comment when the network has no comments (the template says so).
NOT_HERE = "not_here"
MAX_VARIATIONS = 10  # previewed; the composer shows a few rows


@workspace_view
@require_GET
def post_preview(request: HttpRequest) -> HttpResponse:
    """htmx: for each network of the ticked channels, every part's count against that
    network's limit (editor.services.network_counts: the functions that validate on
    save) and a preview of the post as it would go out there."""
    text = request.GET.get("text", "")[:MAX_PREVIEW_TEXT]
    # Beyond the most a thread may have, parts are not counted (saving refuses them).
    thread = split_thread(request.GET.get("thread", "")[:MAX_PREVIEW_TEXT])[:MAX_THREAD_PARTS]
    ids = [i for i in request.GET.getlist("channels") if i.isascii() and i.isdigit()]
    channels = list(Channel.objects.filter(workspace=request.workspace, id__in=ids[:100]))
    images = []
    post_id = request.GET.get("post", "")
    if post_id.isascii() and post_id.isdigit():
        post = Post.objects.filter(workspace=request.workspace, id=post_id).first()
        images = list(post.images.all()) if post is not None else []
    texts = [text, *thread]
    networks = network_counts(texts=texts, channels=channels) if channels else []
    # The variations too (used on later loops), each counted like the text, per network.
    variations = [v for v in request.GET.getlist("variations") if v.strip()][:MAX_VARIATIONS]
    by_network: dict[tuple, list] = {}
    for number, variation in enumerate(variations, start=1):
        variation = variation[:MAX_PREVIEW_TEXT]
        for net in network_counts(texts=[variation], channels=channels) if channels else []:
            by_network.setdefault((net.provider, net.name), []).append(
                (number, net.parts[0], variation)
            )
    # The first comment, counted per network that has comments; the others are named.
    comment = request.GET.get("first_comment", "")[:MAX_PREVIEW_TEXT].strip()
    comments: dict[tuple, PartCount] = {}
    if comment and channels:
        for net in network_counts(texts=[comment], channels=channels):
            if get_provider(net.provider).capabilities.first_comment:
                comments[(net.provider, net.name)] = net.parts[0]
    rows = [
        (
            net,
            list(zip(net.parts, texts, strict=True)),
            by_network.get((net.provider, net.name), []),
            comments.get((net.provider, net.name), NOT_HERE if comment else None),
        )
        for net in networks
    ]
    image_problem = ""
    # Saved images, or images chosen in the composer and not uploaded yet (compose.js).
    has_images = bool(images) or request.GET.get("has_images") == "1"
    if has_images and any(net.provider == SocialAccount.Provider.WEBHOOK for net in networks):
        image_problem = image_url_problem()
    # Said before scheduling: a post without an image is skipped on such a network.
    image_needed = (
        []
        if has_images
        else list(
            dict.fromkeys(
                problem for net in networks if (problem := needs_image(get_provider(net.provider)))
            )
        )
    )
    # Saved images of a type a network does not take (Instagram: JPEG only).
    kinds = [image.content_type for image in images]
    image_types = list(
        dict.fromkeys(
            problem
            for net in networks
            if (problem := image_type_problem(get_provider(net.provider), kinds))
        )
    )
    return render(
        request,
        "posts/_networks.html",
        {
            "rows": rows,
            "image_types": image_types,
            "images": images,
            # The previews show the comment's text under each post that gets it.
            "comment": comment,
            "has_channels": bool(channels),
            "image_problem": image_problem,
            "image_needed": image_needed,
        },
    )
