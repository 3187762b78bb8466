"""Fixtures of the publishing tests."""

from __future__ import annotations

import pytest

from tests.receiver import Receiver


@pytest.fixture
def receivers():
    made = [Receiver().start() for _ in range(3)]
    yield made
    for r in made:
        r.stop()
