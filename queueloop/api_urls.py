"""REST API v1 (/api/v1/): token auth, scoped to the workspaces the user belongs to.

Get a token with `POST /api/v1/auth/token/` (username, password) or on the API tokens page;
send it as `Authorization: Token <key>`. Only its digest is stored (accounts.tokens), so each
call makes a new token, shown once, and the person's previous token stops working.

The OpenAPI schema is at schema/, Swagger UI at docs/ and ReDoc at redoc/, both served from
our own static files (drf-spectacular-sidecar).
"""

from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from accounts import services
from accounts.api import SocialAccountViewSet, WorkspaceViewSet
from channels.api import ChannelViewSet
from editor.api import PostViewSet
from ground.rest import API_PARSERS
from publishing.api import DeliveryViewSet
from scheduling.api import ScheduleViewSet, TimeslotViewSet

app_name = "api"


class ObtainToken(APIView):
    """Exchange a username and password for a new API token, shown only in this answer.

    The database keeps only the token's digest, so it cannot hand back an existing token:
    each call makes a new one and the person's previous token stops working. Throttled
    like every login (accounts.auth): the password check gets Django's request, not DRF's
    wrapper, so axes' lockout flag lands where its middleware looks for it.
    """

    # DRF's ObtainAuthToken, with the token made by our service instead of get_or_create.
    throttle_classes = ()
    permission_classes = ()
    parser_classes = API_PARSERS
    renderer_classes = (JSONRenderer,)
    serializer_class = AuthTokenSerializer

    def get_serializer(self, *args, **kwargs):
        request = getattr(self.request, "_request", self.request)
        kwargs.setdefault("context", {"request": request, "view": self})
        return self.serializer_class(*args, **kwargs)

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = services.api_token_create(user=serializer.validated_data["user"])
        return Response({"token": key}, headers={"Cache-Control": "no-store"})


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
