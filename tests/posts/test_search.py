"""Post search: matches a post's text or any of its variations, each post once, and on
PostgreSQL both texts carry the trigram index that serves `icontains`."""

from __future__ import annotations

import pytest
from django.db import connection

from scheduling.selectors import posts_for_list
from tests.factories import PostFactory, VariationFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def test_search_matches_text_or_variations_once_each_within_the_workspace():
    ws = WorkspaceFactory()
    by_text = PostFactory(workspace=ws, text="Launch day NEEDLE")
    by_variation = PostFactory(workspace=ws, text="nothing here")
    VariationFactory(post=by_variation, text="a needle, once")
    VariationFactory(post=by_variation, text="a needle, twice", position=2)
    both = PostFactory(workspace=ws, text="needle")
    VariationFactory(post=both, text="needle again")
    PostFactory(workspace=ws, text="hay")
    PostFactory(workspace=WorkspaceFactory(), text="needle elsewhere")
    found = list(posts_for_list(workspace=ws, search="needle"))
    assert sorted(p.id for p in found) == sorted([by_text.id, by_variation.id, both.id])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes: PostgreSQL")
def test_post_and_variation_texts_have_trigram_indexes():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN "
            "('post_text_trgm_idx', 'variation_text_trgm_idx')"
        )
        rows = dict(cursor.fetchall())
    assert set(rows) == {"post_text_trgm_idx", "variation_text_trgm_idx"}
    assert all("gin_trgm_ops" in d and "upper(" in d.lower() for d in rows.values())
