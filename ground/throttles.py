"""API throttles (REST_FRAMEWORK's DEFAULT_THROTTLE_CLASSES).

Their own module: DRF imports these while building APIView, so this module must not import
rest_framework.views (or anything that does) itself.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class TokenRateThrottle(UserRateThrottle):
    """Per token holder (API_THROTTLE_RATE), read at call time so tests can change it."""

    def get_rate(self) -> str:
        return settings.API_THROTTLE_RATE


class AddressRateThrottle(AnonRateThrottle):
    """Anonymous calls (the token endpoint, the schema) per client address."""

    def get_rate(self) -> str:
        return settings.API_ANON_THROTTLE_RATE
