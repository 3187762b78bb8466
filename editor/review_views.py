"""Approval and comments in the web UI: a post's review actions and comments (from the
composer and the calendar's slot panel), the review queue (`/review/`) with the owners'
approval settings, and the one-time link of the approvers' emails.

Approvers POST here though they write no post (`viewers_may_post`): the services
(posts.review, posts.comments) decide who may do what, and refuse with 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import APPROVER_ROLES, Membership
from accounts.views import redirect_back, workspace_view
from ground.validation import error_messages
from posts import comments, review
from posts.models import Post, word_preview
from scheduling.models import Timeslot

REVIEW_PAGE_SIZE = 25


def _post(request: HttpRequest, post_id: int) -> Post:
    # Another workspace's post is a 404 (invariant §7.4).
    return get_object_or_404(Post, id=post_id, workspace=request.workspace)


@workspace_view(viewers_may_post=True)
@require_POST
def post_review(request: HttpRequest, post_id: int, action: str) -> HttpResponse:
    if action not in ("submit", "approve", "changes"):
        raise Http404("No such review action.")
    post = _post(request, post_id)
    try:
        if action == "submit":
            review.post_submit_for_review(post=post, user=request.user)
            done = "submitted for review"
        elif action == "approve":
            review.post_approve(post=post, user=request.user)
            done = "approved"
        else:
            review.post_request_changes(
                post=post, user=request.user, note=request.POST.get("note", "")
            )
            done = "sent back with changes requested"
    except ValidationError as exc:
        messages.error(request, " ".join(error_messages(exc)))
    else:
        messages.success(request, f"“{word_preview(post.text)}” {done}.")
    return redirect_back(request, "post_edit", post.id)


@workspace_view(viewers_may_post=True)
@require_POST
def post_comment(request: HttpRequest, post_id: int) -> HttpResponse:
    post = _post(request, post_id)
    try:
        comments.comment_create(post=post, user=request.user, text=request.POST.get("text", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(error_messages(exc)))
    else:
        messages.success(request, "Comment added.")
    return redirect_back(request, "post_edit", post.id)


@workspace_view(viewers_may_post=True)
def review_queue(request: HttpRequest) -> HttpResponse:
    """Posts waiting for an approver, the soonest due first; owners set who needs approval."""
    workspace = request.workspace
    is_owner = request.membership.role == Membership.Role.OWNER
    if request.method == "POST":
        if not is_owner:
            return HttpResponse("Only owners change the approval settings.", status=403)
        review.workspace_set_needs_approval(
            workspace=workspace, user=request.user, needs_approval="needs_approval" in request.POST
        )
        flagged = set(request.POST.getlist("member"))
        for member in Membership.objects.filter(workspace=workspace):
            wanted = str(member.id) in flagged
            if member.needs_approval != wanted:
                review.member_set_needs_approval(
                    member=member, user=request.user, needs_approval=wanted
                )
        messages.success(request, "Approval settings saved.")
        return redirect("review_queue")
    posts = (
        Post.objects.filter(workspace=workspace, review_state=Post.ReviewState.IN_REVIEW)
        .select_related("author")
        .annotate(
            due_at=Min(
                "pinned_timeslots__publish_at",
                filter=Q(
                    pinned_timeslots__status=Timeslot.Status.SCHEDULED,
                    pinned_timeslots__publish_at__gt=timezone.now(),
                ),
            )
        )
        .order_by("due_at", "created_at", "id")
    )
    page = Paginator(posts, REVIEW_PAGE_SIZE).get_page(request.GET.get("page"))
    members = (
        list(Membership.objects.filter(workspace=workspace).select_related("user").order_by("id"))
        if is_owner
        else []
    )
    return render(
        request,
        "posts/review_queue.html",
        {
            "page": page,
            "posts": page.object_list,
            "can_approve": request.membership.role in APPROVER_ROLES,
            "is_owner": is_owner,
            "members": members,
        },
    )


def review_link(request: HttpRequest, token: str) -> HttpResponse:
    """An approver's email link: GET shows the post (mail scanners open links: a GET
    changes nothing); POST approves or asks for changes, once. No login needed: the signed,
    single-use, expiring link is the approver's proof."""
    now = timezone.now()
    link, problem = review.review_link_check(token=token, now=now)
    if request.method == "POST" and problem is None:
        approve = request.POST.get("action") != "changes"
        try:
            review.review_link_use(
                token=token, approve=approve, note=request.POST.get("note", ""), now=now
            )
        except ValidationError as exc:
            return render(
                request,
                "posts/review_link.html",
                {"link": link, "problem": " ".join(error_messages(exc))},
                status=400,
            )
        return render(
            request,
            "posts/review_link.html",
            {"link": link, "done": "approved" if approve else "sent back with your note"},
        )
    # A link that never was: 404; one that was and no longer works: 410 Gone.
    status = 200 if problem is None else (404 if problem == review.LinkProblem.INVALID else 410)
    return render(
        request,
        "posts/review_link.html",
        {"link": link, "problem": problem.value if problem else ""},
        status=status,
    )
