"""REST API v1 (/api/v1/): token auth, scoped to the workspaces the user belongs to.

Get a token with `POST /api/v1/auth/token/` (username, password) or in the admin; send it
as `Authorization: Token <key>`. The OpenAPI schema is at schema/, Swagger UI at docs/ and
ReDoc at redoc/, both served from our own static files (drf-spectacular-sidecar).
"""

from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.routers import DefaultRouter

from accounts.api import SocialAccountViewSet, WorkspaceViewSet
from channels.api import ChannelViewSet
from posts.api import PostViewSet
from publishing.api import DeliveryViewSet
from queueloop.api_common import API_PARSERS
from scheduling.api import ScheduleViewSet, TimeslotViewSet

app_name = "api"


class ObtainToken(ObtainAuthToken):
    """Exchange a username and password for the user's API token.

    Throttled like every login (accounts.auth): the password check gets Django's request,
    not DRF's wrapper, so axes' lockout flag lands where its middleware looks for it.
    """

    parser_classes = API_PARSERS

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "request": self.request._request}


router = DefaultRouter()
router.register("workspaces", WorkspaceViewSet, basename="workspace")
router.register("accounts", SocialAccountViewSet, basename="account")
router.register("channels", ChannelViewSet, basename="channel")
router.register("posts", PostViewSet, basename="post")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("timeslots", TimeslotViewSet, basename="timeslot")
router.register("deliveries", DeliveryViewSet, basename="delivery")

urlpatterns = [
    path("auth/token/", ObtainToken.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    path("", include(router.urls)),
]
