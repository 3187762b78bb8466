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
from rest_framework.routers import DefaultRouter

from accounts.activity_api import ActivityViewSet
from accounts.api import (
    InvitationViewSet,
    MemberViewSet,
    ObtainToken,
    SocialAccountViewSet,
    WorkspaceViewSet,
)
from channels.api import ChannelViewSet
from editor.api import PostViewSet
from integrations.api import EndpointViewSet
from networks.api import AccountConnectViewSet
from posts.label_api import LabelViewSet
from publishing.api import DeliveryViewSet, NoticeViewSet, ProblemViewSet
from publishing.stopping.api import BlackoutViewSet, StopViewSet
from results.api import DeliveryResultsViewSet, PostResultsViewSet
from scheduling.api import CalendarViewSet, ScheduleViewSet, TimeslotViewSet

app_name = "api"

# Each app's viewsets, under the paths the API has always had.
router = DefaultRouter()
router.register("workspaces", WorkspaceViewSet, basename="workspace")
router.register("accounts", SocialAccountViewSet, basename="account")
router.register("channels", ChannelViewSet, basename="channel")
router.register("posts", PostViewSet, basename="post")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("timeslots", TimeslotViewSet, basename="timeslot")
router.register("deliveries", DeliveryViewSet, basename="delivery")
router.register("endpoints", EndpointViewSet, basename="endpoint")
router.register("members", MemberViewSet, basename="member")
router.register("invitations", InvitationViewSet, basename="invitation")
# Everything a marketer does in the web UI (issue 29): adding accounts, the calendar,
# notices and problems.
router.register("accounts/connect", AccountConnectViewSet, basename="account-connect")
router.register("calendar", CalendarViewSet, basename="calendar")
router.register("notices", NoticeViewSet, basename="notice")
router.register("problems", ProblemViewSet, basename="problem")
router.register("stops", StopViewSet, basename="stop")
router.register("blackouts", BlackoutViewSet, basename="blackout")
router.register("activity", ActivityViewSet, basename="activity")
router.register("labels", LabelViewSet, basename="label")
# What each sent delivery earned (results/): read-only.
router.register("results/deliveries", DeliveryResultsViewSet, basename="delivery-results")
router.register("results/posts", PostResultsViewSet, basename="post-results")

urlpatterns = [
    path("auth/token/", ObtainToken.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    path("", include(router.urls)),
]
