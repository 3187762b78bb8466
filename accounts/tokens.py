"""API token authentication: `Authorization: Token <key>`, checked against stored digests.

DRF's TokenAuthentication reads the header and answers 401 with `WWW-Authenticate: Token`;
only the lookup differs from DRF's own: the table holds SHA-256 digests (accounts.models.
ApiToken says why a plain digest), so the presented key is hashed and its digest looked up.
The lookup goes through a unique index, and what a timing difference there could reveal is
about the digest of the caller's own guess, which they cannot steer towards a stored one;
the final comparison is constant-time all the same.
"""

from __future__ import annotations

import hmac

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from accounts.models import ApiToken


class HashedTokenAuthentication(TokenAuthentication):
    model = ApiToken

    def authenticate_credentials(self, key):
        digest = ApiToken.digest_of(key)
        token = ApiToken.objects.select_related("user").filter(digest=digest).first()
        if token is None or not hmac.compare_digest(token.digest, digest):
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return (token.user, token)
