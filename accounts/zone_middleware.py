"""One clock (issue 13, item 4): every request of a signed-in person runs in their display
zone, so every time Django renders (templates, the admin, forms) is in it.

The zone is the profile's; a person who never chose one gets the browser's, which
static/js/zone.js leaves in the `ql_tz` cookie and which is stored on their first request
(never over a choice). Workspace pages may refine it (accounts.views.display_timezone).
"""

from __future__ import annotations

from django.utils import timezone

from accounts import services
from accounts.models import Profile

BROWSER_ZONE_COOKIE = "ql_tz"


class DisplayZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.user_tz = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            zone = (
                Profile.objects.filter(user_id=user.pk).values_list("timezone", flat=True).first()
            )
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
