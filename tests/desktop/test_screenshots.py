"""The screenshot service gives encoding memory back after a quiet spell, and only then."""

from __future__ import annotations


from bureau_agent.desktop.capture import Capturer
from bureau_agent.desktop.screenshots import Screenshots, ShotOptions
from tests.support.wait import wait_until
from tests.support.xvfb import Xvfb


async def test_memory_is_released_once_after_a_quiet_spell(xvfb: Xvfb) -> None:
    capturer = Capturer(xvfb.name)
    service = Screenshots(capturer, idle_release_s=1.0)
    try:
        for quality in (50, 60, 70):  # a burst of real encodes, back to back: well inside the spell
            await service.shot(ShotOptions(fmt="jpeg", quality=quality))
        assert service.encodes == 3 and service.releases == 0
        await wait_until(lambda: service.releases >= 1, timeout_s=10, what="the release after the quiet spell")
        assert service.releases == 1 and service._release is None  # one for the whole burst, none pending
        shot = await service.shot(ShotOptions(fmt="jpeg", quality=90))  # still works afterwards
        assert shot.data and shot.data[:2] == b"\xff\xd8"
    finally:
        await service.close()
        await capturer.close()
