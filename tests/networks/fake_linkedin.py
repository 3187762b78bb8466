"""A fake LinkedIn: a real HTTP server on 127.0.0.1 answering in the shapes LinkedIn's docs
(learn.microsoft.com/linkedin: Authorization Code Flow, Sign In with OpenID Connect, Posts API,
Images API, Comments API, Organization Access Control, little text format) describe.

- OAuth: `GET /oauth/v2/authorization` signs in `signed_in` (a member the test set) and
  redirects to the redirect_uri with `code` and `state`; `POST /oauth/v2/accessToken`
  (form, client id + secret) exchanges a code or a refresh token for
  `{"access_token", "expires_in": 5184000, "refresh_token", "refresh_token_expires_in",
  "scope"}`, or answers 400 `{"error", "error_description"}`.
- `GET /v2/userinfo` → `{"sub", "name", "given_name", "family_name", ...}`.
- `/rest/...` needs `LinkedIn-Version: YYYYMM` (400 VERSION_MISSING without it, 426
  NONEXISTENT_VERSION for one not in `active_versions`) and `X-Restli-Protocol-Version:
  2.0.0`; a bad token is 401 `{"status": 401, "serviceErrorCode": 65600, "code":
  "INVALID_ACCESS_TOKEN", "message": "Invalid access token"}`; a missing scope 403
  ACCESS_DENIED.
- `GET /rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED` →
  `{"paging", "elements": [{"roleAssignee", "role", "state", "organization"}]}`;
  `GET /rest/organizations/{id}` → `{"id", "localizedName", "vanityName"}`.
- `POST /rest/images?action=initializeUpload` → `{"value": {"uploadUrlExpiresAt",
  "uploadUrl", "image": "urn:li:image:..."}}`; `PUT` the bytes to the uploadUrl → 201.
- `POST /rest/posts` → 201, the urn in `x-restli-id`; `commentary` at most 3,000 characters,
  read as little text (a reserved character not escaped ends the text there, as LinkedIn's
  parser does), images by urn in `content.media` or `content.multiImage` (2 to 20).
- `POST /rest/socialActions/{urn}/comments` → 201 with the comment (`id`, `$URN`) and its urn
  in `x-restli-id`.
- `GET /rest/socialMetadata?ids=List(<urn>,<urn>)` (a batch get) → `{"results": {urn:
  {"reactionSummaries": {"LIKE": {"reactionType": "LIKE", "count": 3}}, "commentSummary":
  {"count", "topLevelCount"}, "commentsState": "OPEN", "entity": urn}}, "statuses": {urn:
  200 | 404}, "errors": {urn: {"status": 404, "message"}}}`; a page's posts need
  r_organization_social (and an administrator), a member's r_member_social (403 without).
  `set_reactions(urn, LIKE=3, PRAISE=1)` sets a post's reactions; its comments are counted.

Posts are kept in `posts`, comments in `comments`, uploads in `images`. Scripted failures come
from FakeServer: `script("POST", "/rest/posts", Scripted(...))`.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from urllib.parse import unquote, urlencode

import pytest

from tests.networks.fake_http import FakeServer, Reply, Request

CLIENT_ID = "78linkedinclient"
CLIENT_SECRET = "linkedin-client-secret-for-tests"
ACCESS_TTL = 60 * 24 * 3600
REFRESH_TTL = 365 * 24 * 3600
RESERVED = set("|{}@[]()<>#\\*_~")
_HASHTAG = re.compile(r"#[^\W_]+")


def rest_error(status: int, message: str, code: str = "", **extra) -> Reply:
    body = {"status": status, "message": message, **extra}
    if code:
        body["code"] = code
    return Reply(status, body, {"x-restli-error-response": "true"} if status >= 400 else {})


def read_little(commentary: str) -> str:
    """What LinkedIn shows for a commentary: escapes undone, a hashtag kept, and the text
    ending at the first reserved character left unescaped (it starts markup)."""
    out: list[str] = []
    index = 0
    while index < len(commentary):
        char = commentary[index]
        if char == "\\" and index + 1 < len(commentary):
            out.append(commentary[index + 1])
            index += 2
            continue
        if char == "#" and (tag := _HASHTAG.match(commentary, index)):
            out.append(tag.group())
            index = tag.end()
            continue
        if char in RESERVED:
            break
        out.append(char)
        index += 1
    return "".join(out)


class FakeLinkedIn(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.members: dict[str, dict] = {}  # sub → userinfo
        self.tokens: dict[str, dict] = {}  # access token → {"sub", "scope", "expires_at"}
        self.refresh_tokens: dict[str, dict] = {}  # refresh token → {"sub", "scope", ...}
        self.codes: dict[str, dict] = {}
        self.organizations: dict[int, dict] = {}
        self.acls: list[dict] = []
        self.images: dict[str, dict] = {}  # urn → {"owner", "data", "content_type"}
        self.uploads: dict[str, str] = {}  # upload key → image urn
        self.posts: list[dict] = []
        self.comments: list[dict] = []
        self.reactions: dict[str, dict[str, int]] = {}  # post urn → {reaction type: count}
        self.issued: list[str] = []  # every token handed out (for the log scans)
        self.signed_in: str | None = None
        self.grant_refresh = True
        self.active_versions: set[str] | None = None  # None: any YYYYMM
        self._ids = itertools.count(7_300_000_000_000_000_000)
        self._org_ids = itertools.count(2_414_183)

    # --- test helpers ---------------------------------------------------------------------
    def add_member(self, name: str = "Ada Lovelace") -> str:
        sub = secrets.token_urlsafe(8).replace("-", "x").replace("_", "y")
        given, _, family = name.partition(" ")
        self.members[sub] = {
            "sub": sub,
            "email_verified": True,
            "name": name,
            "locale": {"country": "GB", "language": "en"},
            "given_name": given,
            "family_name": family,
            "picture": f"https://media.licdn.com/dms/image/{sub}",
        }
        return sub

    def add_page(self, name: str, vanity: str, *, admins: list[str] = (), role="ADMINISTRATOR"):
        org_id = next(self._org_ids)
        self.organizations[org_id] = {
            "id": org_id,
            "localizedName": name,
            "vanityName": vanity,
            "name": {"localized": {"en_US": name}, "preferredLocale": {"country": "US"}},
        }
        for sub in admins:
            self.acls.append(
                {
                    "roleAssignee": f"urn:li:person:{sub}",
                    "role": role,
                    "state": "APPROVED",
                    "organization": f"urn:li:organization:{org_id}",
                }
            )
        return f"urn:li:organization:{org_id}"

    def issue(self, sub: str, scope: str = "openid profile w_member_social", **kw) -> dict:
        """A token answer for the member, as the token endpoint gives it."""
        access = "AQV" + secrets.token_urlsafe(40)
        expires_in = kw.get("expires_in", ACCESS_TTL)
        self.tokens[access] = {"sub": sub, "scope": scope, "expires_at": time.time() + expires_in}
        self.issued.append(access)
        # LinkedIn answers the granted scopes comma-separated.
        answer = {
            "access_token": access,
            "expires_in": expires_in,
            "scope": ",".join(scope.split()),
        }
        if self.grant_refresh:
            refresh = kw.get("refresh_token") or "AQX" + secrets.token_urlsafe(40)
            if refresh not in self.refresh_tokens:
                self.refresh_tokens[refresh] = {
                    "sub": sub,
                    "scope": scope,
                    "expires_at": time.time() + REFRESH_TTL,
                }
                self.issued.append(refresh)
            left = int(self.refresh_tokens[refresh]["expires_at"] - time.time())
            answer |= {"refresh_token": refresh, "refresh_token_expires_in": left}
        return answer

    def set_reactions(self, urn: str, **counts: int) -> None:
        self.reactions[urn] = {**self.reactions.get(urn, {}), **counts}

    def delete_post(self, urn: str) -> None:
        self.posts = [p for p in self.posts if p["urn"] != urn]

    def revoke(self, access_token: str) -> None:
        self.tokens.pop(access_token, None)

    def posts_of(self, author: str) -> list[dict]:
        return [p for p in self.posts if p["author"] == author]

    # --- the API --------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        path = request.path
        if path == "/oauth/v2/authorization" and request.method == "GET":
            return self._authorize(request)
        if path == "/oauth/v2/accessToken" and request.method == "POST":
            return self._token(request)
        if path.startswith("/upload/") and request.method == "PUT":
            return self._upload(request)
        token = self._token_of(request)
        if token is None:
            return rest_error(
                401, "Invalid access token", "INVALID_ACCESS_TOKEN", serviceErrorCode=65600
            )
        if path == "/v2/userinfo" and request.method == "GET":
            if "openid" not in token["scope"].split():
                return rest_error(
                    403,
                    "Not enough permissions to access: userinfo.GET.NO_VERSION",
                    "ACCESS_DENIED",
                    serviceErrorCode=100,
                )
            return Reply(200, self.members[token["sub"]])
        if not path.startswith("/rest/"):
            return rest_error(404, f"No virtual resource found for {path}", "RESOURCE_NOT_FOUND")
        version = request.headers.get("linkedin-version", "")
        if not version:
            return rest_error(
                400,
                "A version must be present. Please specify a version by adding the "
                "LinkedIn-Version header.",
                "VERSION_MISSING",
            )
        if not re.fullmatch(r"\d{6}", version) or (
            self.active_versions is not None and version not in self.active_versions
        ):
            return rest_error(
                426, f"Requested version {version} is not active", "NONEXISTENT_VERSION"
            )
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return rest_error(400, "Rest.li protocol 2.0.0 is required", "UNSUPPORTED_PROTOCOL")
        rest = path.removeprefix("/rest/")
        if rest == "organizationAcls" and request.method == "GET":
            return self._acls(request, token)
        if rest.startswith("organizations/") and request.method == "GET":
            org = self.organizations.get(int(rest.split("/")[1] or 0))
            if org is None:
                return rest_error(404, "Organization not found", "NOT_FOUND")
            return Reply(200, org)
        if rest == "images" and request.method == "POST":
            return self._initialize_upload(request, token)
        if rest == "posts" and request.method == "POST":
            return self._create_post(request, token)
        if rest == "socialMetadata" and request.method == "GET":
            return self._social_metadata(request, token)
        match = re.fullmatch(r"socialActions/([^/]+)/comments", rest)
        if match and request.method == "POST":
            return self._create_comment(request, token, unquote(match.group(1)))
        return rest_error(404, f"No virtual resource found for {path}", "RESOURCE_NOT_FOUND")

    def _token_of(self, request: Request) -> dict | None:
        token = self.tokens.get(request.bearer or "")
        if token is None or token["expires_at"] < time.time():
            return None
        return token

    def _authorize(self, request: Request) -> Reply:
        query = request.query
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return Reply(400, b"invalid client_id or response_type")
        redirect = query["redirect_uri"]
        if self.signed_in is None:
            params = {
                "error": "user_cancelled_authorize",
                "error_description": "The user cancelled the authorization",
                "state": query.get("state", ""),
            }
        else:
            code = "AQT" + secrets.token_urlsafe(30)
            self.codes[code] = {
                "sub": self.signed_in,
                "scope": query.get("scope", ""),
                "redirect_uri": redirect,
            }
            params = {"code": code, "state": query.get("state", "")}
        return Reply(302, None, {"Location": f"{redirect}?{urlencode(params)}"})

    def _token(self, request: Request) -> Reply:
        form = {k: v[0] for k, v in request.form.items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return Reply(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed"},
            )
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = self.codes.pop(form.get("code", ""), None)
            if code is None or code["redirect_uri"] != form.get("redirect_uri"):
                return Reply(
                    400,
                    {
                        "error": "invalid_request",
                        "error_description": "Unable to retrieve access token: authorization "
                        "code not found",
                    },
                )
            return Reply(200, self.issue(code["sub"], code["scope"]))
        if grant == "refresh_token":
            refresh = self.refresh_tokens.get(form.get("refresh_token", ""))
            if refresh is None or refresh["expires_at"] < time.time():
                return Reply(
                    400,
                    {
                        "error": "invalid_request",
                        "error_description": "The provided authorization grant or refresh token "
                        "is invalid, expired or revoked.",
                    },
                )
            return Reply(
                200,
                self.issue(refresh["sub"], refresh["scope"], refresh_token=form["refresh_token"]),
            )
        return Reply(
            400,
            {"error": "unsupported_grant_type", "error_description": "grant_type is not supported"},
        )

    def _administers(self, sub: str, organization: str) -> bool:
        return any(
            a["roleAssignee"] == f"urn:li:person:{sub}"
            and a["organization"] == organization
            and a["role"] == "ADMINISTRATOR"
            and a["state"] == "APPROVED"
            for a in self.acls
        )

    def _acls(self, request: Request, token: dict) -> Reply:
        if request.query.get("q") != "roleAssignee":
            return rest_error(400, "Invalid finder", "ILLEGAL_ARGUMENT")
        if not {"r_organization_admin", "rw_organization_admin"} & set(token["scope"].split()):
            return rest_error(
                403,
                "Not enough permissions to access: organizationAcls.FINDER-roleAssignee",
                "ACCESS_DENIED",
                serviceErrorCode=100,
            )
        me = f"urn:li:person:{token['sub']}"
        elements = [
            a
            for a in self.acls
            if a["roleAssignee"] == me
            and a["role"] == request.query.get("role", a["role"])
            and a["state"] == request.query.get("state", a["state"])
        ]
        return Reply(
            200,
            {
                "paging": {"start": 0, "count": 10, "links": [], "total": len(elements)},
                "elements": elements,
            },
        )

    def _may_act_as(self, token: dict, author: str) -> Reply | None:
        scopes = set(token["scope"].split())
        if author == f"urn:li:person:{token['sub']}":
            if "w_member_social" not in scopes:
                return rest_error(
                    403,
                    "Not enough permissions to access: partnerApiPostsExternal.CREATE",
                    "ACCESS_DENIED",
                    serviceErrorCode=100,
                )
            return None
        if (
            author.startswith("urn:li:organization:")
            and "w_organization_social" in scopes
            and self._administers(token["sub"], author)
        ):
            return None
        return rest_error(
            403,
            "Unpermitted fields present in REQUEST_BODY: Data Processing Exception while "
            "processing fields [/author]",
            "ACCESS_DENIED",
            serviceErrorCode=100,
        )

    def _initialize_upload(self, request: Request, token: dict) -> Reply:
        if request.query.get("action") != "initializeUpload":
            return rest_error(400, "Invalid action", "ILLEGAL_ARGUMENT")
        owner = (request.json.get("initializeUploadRequest") or {}).get("owner", "")
        refused = self._may_act_as(token, owner)
        if refused is not None:
            return refused
        urn = f"urn:li:image:C4E10AQ{secrets.token_urlsafe(12)}"
        key = secrets.token_urlsafe(16)
        self.uploads[key] = urn
        self.images[urn] = {"owner": owner, "data": None, "content_type": None}
        return Reply(
            200,
            {
                "value": {
                    "uploadUrlExpiresAt": int(time.time() * 1000) + 86_400_000,
                    "uploadUrl": f"{self.url}/upload/{key}",
                    "image": urn,
                }
            },
        )

    def _upload(self, request: Request) -> Reply:
        urn = self.uploads.get(request.path.removeprefix("/upload/"))
        if urn is None:
            return Reply(404, b"")
        if request.bearer not in self.tokens:
            return Reply(401, b"")
        self.images[urn].update(data=request.body, content_type=request.headers.get("content-type"))
        return Reply(201, None)

    def _create_post(self, request: Request, token: dict) -> Reply:
        body = request.json
        author = str(body.get("author", ""))
        refused = self._may_act_as(token, author)
        if refused is not None:
            return refused
        for field in ("commentary", "visibility", "distribution", "lifecycleState"):
            if field not in body:
                return rest_error(
                    422,
                    f"/{field} :: field is required but not found and has no default value",
                    "UNPROCESSABLE_ENTITY",
                )
        commentary = str(body["commentary"])
        shown = read_little(commentary)
        if len(shown) > 3000:
            return rest_error(
                422,
                "Unprocessable Entity",
                "UNPROCESSABLE_ENTITY",
                errorDetails={
                    "inputErrors": [
                        {
                            "description": "Text length exceeds the maximum allowed (3000)",
                            "input": {"inputPath": {"fieldPath": "/commentary"}},
                            "code": "FIELD_LENGTH_TOO_LONG",
                        }
                    ]
                },
            )
        content = body.get("content") or {}
        entries = []
        if "media" in content:
            entries = [content["media"]]
        elif "multiImage" in content:
            entries = content["multiImage"].get("images") or []
            if not 2 <= len(entries) <= 20:
                return rest_error(
                    422, "multiImage must contain 2 to 20 images", "UNPROCESSABLE_ENTITY"
                )
        for entry in entries:
            image = self.images.get(entry.get("id", ""))
            if image is None or image["data"] is None or image["owner"] != author:
                return rest_error(
                    422,
                    f"Image {entry.get('id')} is not available for this author",
                    "UNPROCESSABLE_ENTITY",
                )
        urn = f"urn:li:share:{next(self._ids)}"
        self.posts.append(
            {
                "urn": urn,
                "author": author,
                "commentary": commentary,
                "text": shown,
                "images": [
                    {"urn": e["id"], "alt_text": e.get("altText", ""), **self.images[e["id"]]}
                    for e in entries
                ],
                "version": request.headers.get("linkedin-version"),
            }
        )
        return Reply(201, None, {"x-restli-id": urn, "x-linkedin-id": urn})

    def _social_metadata(self, request: Request, token: dict) -> Reply:
        listed = re.fullmatch(r"List\((.*)\)", request.query.get("ids", ""))
        if listed is None:
            return rest_error(400, "ids must be a List(...) of urns", "ILLEGAL_ARGUMENT")
        urns = [u for u in listed.group(1).split(",") if u]
        scopes = set(token["scope"].split())
        results, statuses, errors = {}, {}, {}
        for urn in urns:
            post = next((p for p in self.posts if p["urn"] == urn), None)
            if post is None:
                statuses[urn] = 404
                errors[urn] = {"status": 404, "message": f"Entity {urn} not found"}
                continue
            author = post["author"]
            if author.startswith("urn:li:organization:"):
                allowed = "r_organization_social" in scopes and self._administers(
                    token["sub"], author
                )
            else:
                allowed = "r_member_social" in scopes and author == f"urn:li:person:{token['sub']}"
            if not allowed:
                return rest_error(
                    403,
                    "Not enough permissions to access: socialMetadata.BATCH_GET.20260901",
                    "ACCESS_DENIED",
                    serviceErrorCode=100,
                )
            comments = [c for c in self.comments if c["object"] == urn]
            results[urn] = {
                "reactionSummaries": {
                    kind: {"reactionType": kind, "count": n}
                    for kind, n in self.reactions.get(urn, {}).items()
                    if n
                },
                "commentsState": "OPEN",
                "commentSummary": {"count": len(comments), "topLevelCount": len(comments)},
                "entity": urn,
            }
            statuses[urn] = 200
        return Reply(200, {"statuses": statuses, "results": results, "errors": errors})

    def _create_comment(self, request: Request, token: dict, target: str) -> Reply:
        body = request.json
        actor = str(body.get("actor", ""))
        refused = self._may_act_as(token, actor)
        if refused is not None:
            return refused
        if not any(p["urn"] == target for p in self.posts):
            return rest_error(404, f"Entity {target} not found", "NOT_FOUND")
        text = str((body.get("message") or {}).get("text") or "")
        if not text.strip() or body.get("object") != target:
            return rest_error(
                422,
                "Unprocessable Entity: message.text and object are required",
                "UNPROCESSABLE_ENTITY",
            )
        comment_id = str(next(self._ids))
        comment_urn = f"urn:li:comment:({target},{comment_id})"
        comment = {
            "actor": actor,
            "object": target,
            "message": {"text": text},
            "id": comment_id,
            "$URN": comment_urn,
            "created": {"actor": actor, "time": int(time.time() * 1000)},
        }
        self.comments.append(comment)
        return Reply(201, comment, {"x-restli-id": comment_urn})


@pytest.fixture
def fake_linkedin(settings):
    from networks.linkedin import api

    settings.INSTANCE_ALLOWED_HOSTS = ["127.0.0.1"]
    fake = FakeLinkedIn().start()
    settings.LINKEDIN_API_BASE = fake.url
    settings.LINKEDIN_AUTH_BASE = fake.url
    settings.LINKEDIN_CLIENT_ID = CLIENT_ID
    settings.LINKEDIN_CLIENT_SECRET = CLIENT_SECRET
    # No pooled connection outlives its fake: a later fake may get the same port.
    api.reset_session()
    yield fake
    api.reset_session()
    fake.stop()
