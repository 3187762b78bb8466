"""The API docs (Swagger UI at /api/v1/docs/, ReDoc at /api/v1/redoc/) work offline: a
real browser with every request to another host blocked still lists the operations."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.system.test_web_ui_browser import SCREENSHOTS, page  # noqa: F401 - page: the browser fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOCAL = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture
def offline(request):
    """The page with the network cut off: any request to a non-local host is aborted."""
    tab = request.getfixturevalue("page")
    blocked: list[tuple[str, str]] = []

    def route(r):
        host = urlsplit(r.request.url).hostname or ""
        if host in LOCAL or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            blocked.append((r.request.resource_type, r.request.url))
            r.abort()

    tab.route("**/*", route)
    tab.blocked = blocked
    return tab


def test_swagger_ui_lists_the_operations_offline(offline):
    tab = offline
    tab.goto(f"{tab.base_url}/api/v1/docs/")
    tab.locator(".opblock").first.wait_for()
    paths = tab.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/posts/" in paths
    assert "/api/v1/timeslots/{id}/" in paths
    assert tab.blocked == []  # nothing even tried to reach a CDN
    tab.screenshot(path=str(SCREENSHOTS / "api-docs-offline.png"))


def test_redoc_lists_the_operations_offline(offline):
    tab = offline
    tab.goto(f"{tab.base_url}/api/v1/redoc/")
    tab.locator("[data-section-id^='tag/']").first.wait_for()
    tab.get_by_text("/api/v1/posts/", exact=False).first.wait_for()
    # ReDoc's JavaScript shows a "Redocly" badge image from its CDN and hides it when it
    # fails to load: the one request allowed to fail. No script, style or font is remote.
    assert [url for kind, url in tab.blocked if kind != "image"] == []
    tab.screenshot(path=str(SCREENSHOTS / "api-redoc-offline.png"))
