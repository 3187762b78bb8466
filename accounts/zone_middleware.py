"""One clock (issue 13, item 4): every request of a signed-in person runs in their display
zone, so every time Django renders (templates, the admin, forms) is in it.

The zone is the profile's; a person who never chose one gets the browser's, which
static/js/zone.js leaves in the `ql_tz` cookie and which is stored on their first request
(never over a choice). Workspace pages may refine it (accounts.views.display_timezone).

The same profile read also ends removed members' sessions: removing a person from a
workspace raises their `session_epoch` (accounts.members), and a session signed in under a
lower one is logged out here, on its very next request (issue 27: "removing a member ends
their sessions at once"). One query serves both, per request.
"""

from __future__ import annotations

from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils import timezone

from accounts import services
from accounts.models import Profile

BROWSER_ZONE_COOKIE = "ql_tz"
SESSION_EPOCH = "session_epoch"


@receiver(user_logged_in, dispatch_uid="accounts.stamp_session_epoch")
def _stamp_session_epoch(sender, request, user, **kwargs) -> None:
    """A new login belongs to the person's current epoch."""
    if request is None or not hasattr(request, "session"):
        return
    epoch = Profile.objects.filter(user_id=user.pk).values_list("session_epoch", flat=True).first()
    request.session[SESSION_EPOCH] = epoch or 0


class DisplayZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.user_tz = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            zone, epoch = (
                Profile.objects.filter(user_id=user.pk)
                .values_list("timezone", "session_epoch")
                .first()
            ) or ("", 0)
            if epoch > request.session.get(SESSION_EPOCH, 0):
                logout(request)  # flushes the session; the page then asks for a login
                return self.get_response(request)
            if not zone:
                guess = request.COOKIES.get(BROWSER_ZONE_COOKIE, "")
                if services.profile_set_timezone(
                    user_id=user.pk, timezone_name=guess, only_if_unset=True
                ):
                    zone = guess
            request.user_tz = zone or None
        if request.user_tz:
            timezone.activate(request.user_tz)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
