from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from django.views import defaults

from accounts import auth_views as auth_pages
from accounts import network_views
from accounts import views as account_views
from accounts.auth import LoginView
from channels import views as channel_views
from posts import media_views
from publishing import views as publishing_views
from scheduling import views as scheduling_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("queueloop.api_urls")),
    path("connect/x/", include("accounts.x_urls")),
    path("", include("bulk.urls")),  # import, export, feeds
    path("sandbox/<int:account_id>/", publishing_views.sandbox_timeline, name="sandbox_timeline"),
    # --- Web UI ---
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Django's password reset, throttled, with our templates; the email goes through EMAIL_URL.
    path("password-reset/", auth_pages.PasswordResetView.as_view(), name="password_reset"),
    # A locked-out person unlocks their login by an emailed link (accounts.auth).
    path("login/unlock/", auth_pages.unlock_request, name="login_unlock_request"),
    path("login/unlock/sent/", auth_pages.unlock_sent, name="login_unlock_sent"),
    path("login/unlock/<str:token>/", auth_pages.unlock, name="login_unlock"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("", include("queueloop.cockpit_urls")),
    path("", scheduling_views.dashboard, name="dashboard"),
    path("calendar/", include("scheduling.calendar_urls")),
    path("workspace/switch/", account_views.workspace_switch, name="workspace_switch"),
    path("notices/<int:notice_id>/dismiss/", account_views.notice_dismiss, name="notice_dismiss"),
    path("notices/dismiss-all/", account_views.notices_dismiss_all, name="notices_dismiss_all"),
    # Accounts
    path("accounts/", account_views.account_list, name="account_list"),
    path("accounts/sandbox/", account_views.account_add_sandbox, name="account_add_sandbox"),
    path("accounts/webhook/", account_views.account_add_webhook, name="account_add_webhook"),
    path("connect/mastodon/", network_views.mastodon_connect, name="mastodon_connect"),
    path(
        "connect/mastodon/callback/",
        network_views.mastodon_connect_callback,
        name="mastodon_connect_callback",
    ),
    path("connect/bluesky/", network_views.bluesky_connect, name="bluesky_connect"),
    path(
        "accounts/<int:account_id>/disable/", account_views.account_disable, name="account_disable"
    ),
    path("accounts/<int:account_id>/enable/", account_views.account_enable, name="account_enable"),
    # Channels, their queue and schedules
    path("channels/", channel_views.channel_list, name="channel_list"),
    path("channels/new/", channel_views.channel_create, name="channel_create"),
    path("channels/<int:channel_id>/", channel_views.channel_detail, name="channel_detail"),
    path(
        "channels/<int:channel_id>/settings/",
        channel_views.channel_settings,
        name="channel_settings",
    ),
    path("channels/<int:channel_id>/pause/", channel_views.channel_pause, name="channel_pause"),
    path(
        "channels/<int:channel_id>/queue/<int:entry_id>/move/",
        channel_views.queue_move,
        name="queue_move",
    ),
    path(
        "channels/<int:channel_id>/queue/<int:entry_id>/remove/",
        channel_views.queue_remove,
        name="queue_remove",
    ),
    path(
        "channels/<int:channel_id>/queue/<int:entry_id>/requeue/",
        channel_views.queue_requeue,
        name="queue_requeue",
    ),
    path(
        "channels/<int:channel_id>/queue/<int:entry_id>/max/",
        channel_views.queue_max,
        name="queue_max",
    ),
    path(
        "channels/<int:channel_id>/schedules/new/",
        scheduling_views.schedule_create,
        name="schedule_create",
    ),
    path(
        "channels/<int:channel_id>/schedules/preview/",
        scheduling_views.schedule_preview,
        name="schedule_preview",
    ),
    path("schedules/<int:schedule_id>/", scheduling_views.schedule_edit, name="schedule_edit"),
    path(
        "schedules/<int:schedule_id>/toggle/",
        scheduling_views.schedule_toggle,
        name="schedule_toggle",
    ),
    path("slots/<int:timeslot_id>/move/", scheduling_views.timeslot_move, name="timeslot_move"),
    path(
        "slots/<int:timeslot_id>/cancel/", scheduling_views.timeslot_cancel, name="timeslot_cancel"
    ),
    path("", include("editor.urls")),  # the post editor: posts and their images
]


def not_found(request, exception):
    """An API client gets JSON even for a path no route matches (the schema's 404)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)


handler404 = not_found
handler500 = server_error


if settings.SERVE_MEDIA:
    # Post images, only through signed URLs that expire (posts.signed_media); MEDIA_ROOT is
    # never served as a directory. SERVE_MEDIA=false when a bucket serves them (with its
    # own signed URLs, e.g. django-storages' querystring_auth).
    urlpatterns.append(
        path(
            settings.MEDIA_URL.lstrip("/") + "<path:path>",
            media_views.media_file,
            name="media_file",
        )
    )
