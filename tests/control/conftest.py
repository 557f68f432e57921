from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.control import FakeControlPlane


@pytest.fixture
async def control_plane() -> AsyncIterator[FakeControlPlane]:
    """A fake control plane answering 200 {} until a test sets its responder."""
    cp = await FakeControlPlane().start()
    yield cp
    await cp.close()
