"""A post's images: upload (file picker or drag and drop), alt text, removal.

Checks and storage live in posts.images / posts.media; these views read the request,
call them and render. A refused upload is a 400 with the reason; the others of the same
upload still go in. An accepted one is re-encoded by a worker: the page shows it as
processing and polls (htmx) until it is ready or failed.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.views import workspace_view
from posts import images as services
from posts import media
from posts.models import Post, PostImage


def _render(request: HttpRequest, post: Post, errors: list[str], status: int = 200):
    return render(
        request,
        "posts/post_images.html",
        {
            "post": post,
            "images": list(post.images.all()),
            "errors": errors,
            "warnings": services.image_warnings(post=post),
            "max_images": media.MAX_IMAGES,
            "max_alt": media.MAX_ALT_TEXT,
            "max_megapixels": settings.IMAGE_MAX_PIXELS // 1_000_000,
            "max_frames": settings.IMAGE_MAX_FRAMES,
            "max_total_megapixels": settings.IMAGE_MAX_TOTAL_PIXELS // 1_000_000,
        },
        status=status,
    )


@workspace_view
@require_http_methods(["GET", "POST"])
def post_images(request: HttpRequest, post_id: int) -> HttpResponse:
    post = get_object_or_404(Post, id=post_id, workspace=request.workspace)
    if request.method == "GET":
        return _render(request, post, [])
    uploads = request.FILES.getlist("images")
    if not uploads:
        return _render(request, post, ["Choose one or more images to upload."], status=400)
    errors: list[str] = []
    added = 0
    for upload in uploads:
        name = upload.name or "image"
        try:
            media.check_size(upload.size or 0, filename=name)
            services.post_image_add(
                post=post,
                data=upload.read(),
                filename=name,
                alt_text=request.POST.get("alt_text", "") if len(uploads) == 1 else "",
            )
        except media.ImageRefused as exc:
            errors.append(str(exc))
        except ValidationError as exc:
            errors.extend(exc.messages)
        else:
            added += 1
    if added:
        messages.success(
            request, f"Added {added} image(s). Each shows “processing” until it is ready."
        )
    if errors:
        return _render(request, post, errors, status=400)
    return redirect("post_images", post.id)


@workspace_view
@require_POST
def post_image_alt(request: HttpRequest, post_id: int, image_id: int) -> HttpResponse:
    image = get_object_or_404(
        PostImage, id=image_id, post_id=post_id, post__workspace=request.workspace
    )
    try:
        services.post_image_set_alt(image=image, alt_text=request.POST.get("alt_text", ""))
    except ValidationError as exc:
        return _render(request, image.post, exc.messages, status=400)
    messages.success(request, f"Alt text of image {image.position + 1} saved.")
    return redirect("post_images", post_id)


@workspace_view
@require_POST
def post_image_remove(request: HttpRequest, post_id: int, image_id: int) -> HttpResponse:
    image = get_object_or_404(
        PostImage, id=image_id, post_id=post_id, post__workspace=request.workspace
    )
    services.post_image_remove(image=image)
    messages.success(request, f"Image {image.position + 1} removed.")
    return redirect("post_images", post_id)
