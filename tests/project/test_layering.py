"""DESIGN §1: imports between the apps' domain modules run one way, never in a circle.

bulk → publishing → scheduling → channels → posts → networks → accounts → queueloop. The web
layer (views, forms, serializers, API, admin, urls, commands, migrations) sits above every
app and is exempt. Function-level imports count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORDER = [
    "bulk", "publishing", "scheduling", "channels", "posts", "networks", "accounts", "queueloop"
]  # fmt: skip
WEB = {
    "views", "forms", "serializers", "api", "admin", "urls", "management", "migrations",
    "tests", "apps", "admin_mixins", "api_common", "api_urls", "wsgi", "asgi", "devrun",
}  # fmt: skip


def _domain_imports() -> list[tuple[str, str, int, str]]:
    """(app, file, line, imported app) for every import of another app in a domain module."""
    found = []
    for app in ORDER:
        for path in (ROOT / app).rglob("*.py"):
            parts = path.relative_to(ROOT / app).with_suffix("").parts
            if any(p in WEB or p.endswith(("_views", "_urls")) for p in parts):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in ORDER and top != app:
                        found.append((app, str(path.relative_to(ROOT)), node.lineno, top))
    return found


def test_domain_imports_run_one_way():
    back = [
        f"{file}:{line} imports {target}"
        for app, file, line, target in _domain_imports()
        if ORDER.index(target) < ORDER.index(app)
    ]
    assert back == []


def test_no_cycle_between_the_apps():
    graph: dict[str, set[str]] = {app: set() for app in ORDER}
    for app, _file, _line, target in _domain_imports():
        graph[app].add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start] - seen:
            if nxt == goal or reaches(nxt, goal, seen | {nxt}):
                return True
        return False

    cycles = [app for app in ORDER if reaches(app, app, set())]
    assert cycles == [], {a: sorted(graph[a]) for a in cycles}
