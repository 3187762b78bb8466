"""The accounts pages: signing in and out, password reset and unlocking, the workspace
switch, notices, the accounts list, the profile and API tokens. Included by
queueloop/urls.py without a namespace (the names are the ones templates reverse)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import auth_views as auth_pages
from accounts import member_views, profile_views, token_views, views
from accounts.auth import LoginView

urlpatterns = [
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
    path("profile/", profile_views.profile, name="profile"),
    path("settings/tokens/", token_views.api_tokens, name="api_tokens"),
    path("settings/tokens/new/", token_views.api_token_create, name="api_token_create"),
    path("settings/tokens/revoke/", token_views.api_token_revoke, name="api_token_revoke"),
    path("workspace/switch/", views.workspace_switch, name="workspace_switch"),
    path("workspace/rename/", member_views.workspace_rename, name="workspace_rename"),
    path("members/", member_views.member_list, name="member_list"),
    path("members/invite/", member_views.invitation_create, name="invitation_create"),
    path(
        "members/invitations/<int:invitation_id>/resend/",
        member_views.invitation_resend,
        name="invitation_resend",
    ),
    path(
        "members/invitations/<int:invitation_id>/revoke/",
        member_views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("members/<int:membership_id>/role/", member_views.member_role, name="member_role"),
    path("members/<int:membership_id>/remove/", member_views.member_remove, name="member_remove"),
    # The link an invitee gets by email (signed, single use; accounts.members).
    path("invite/<str:token>/", member_views.invitation_open, name="invitation_open"),
    path("notices/<int:notice_id>/dismiss/", views.notice_dismiss, name="notice_dismiss"),
    path("notices/dismiss-all/", views.notices_dismiss_all, name="notices_dismiss_all"),
    path("accounts/", views.account_list, name="account_list"),
    path("accounts/sandbox/", views.account_add_sandbox, name="account_add_sandbox"),
    path("accounts/webhook/", views.account_add_webhook, name="account_add_webhook"),
    path("accounts/<int:account_id>/disable/", views.account_disable, name="account_disable"),
    path("accounts/<int:account_id>/enable/", views.account_enable, name="account_enable"),
]
