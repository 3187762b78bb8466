"""The API docs pages reference only our own files: no CDN script, style or font (the
browser test in tests/system/test_api_docs_browser.py renders them with the network blocked)."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

URL_ATTR = re.compile(r"""\b(?:src|href)=["']([^"']+)["']""")


@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_docs_pages_load_nothing_from_another_host(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    urls = URL_ATTR.findall(html)
    assert urls, html[:500]
    remote = [u for u in urls if re.match(r"(?i)^(https?:)?//", u)]
    assert remote == []
    assert "fonts.googleapis.com" not in html and "cdn.jsdelivr.net" not in html
    for url in urls:
        if url.startswith("/static/"):  # a file we ship (collectstatic gathers it)
            assert finders.find(url.removeprefix("/static/")), url
