"""The heartbeat: tells the control plane, on a schedule and on every change, how this agent is.

- a beat every `interval_s` ±20 % (jitter), at once when `state` or `agentReady` changes;
- after a failure (network error, timeout, non-2xx) full-jitter backoff from 1 s to 60 s, and
  the normal interval again after a success; during backoff a change waits for the next attempt
  (which carries the latest state), so a flapping display cannot hammer a failing control plane;
- a 2xx reply {"intervalS": n} (1–300) changes the interval;
- stop() sends one last `stopping` beat, bounded to a couple of seconds.

state: `starting` until the agent has been ready once (or `startup_grace_s` has passed),
then `ready` or `degraded` after agentReady, `stopping` once shutdown has begun.

The loop never raises: every failure is logged and retried later.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Any

from bureau_agent.aio import wait_event
from bureau_agent.control.backoff import Backoff, Random, jittered
from bureau_agent.control.client import BeatFailed, ControlPlaneClient
from bureau_agent.status import StatusDocument
from bureau_agent.timestamps import utc_timestamp

log = logging.getLogger("bureau_agent.heartbeat")

STOPPING_BEAT_TIMEOUT_S = 2.0
STARTING, READY, DEGRADED, STOPPING = "starting", "ready", "degraded", "stopping"

Snapshot = Callable[[], StatusDocument]  # the status document, as /v1/status shows it
Clock = Callable[[], float]


def utc_now() -> str:
    return utc_timestamp(timespec="milliseconds")


class Heartbeat:
    def __init__(
        self,
        client: ControlPlaneClient,
        desktop_id: str | None,
        snapshot: Snapshot,
        is_ready: Callable[[], bool],
        *,
        interval_s: float,
        random: Random,
        backoff: Backoff | None = None,
        clock: Clock = time.monotonic,
        startup_grace_s: float = 60.0,
    ) -> None:
        self.client = client
        self.desktop_id = desktop_id
        self.snapshot = snapshot  # the agent's state as /v1/status shows it (snapshot.status_of)
        self.is_ready = is_ready  # cheap: agentReady alone, to notice changes between beats
        self.interval_s = interval_s
        self.random = random
        self.backoff = backoff or Backoff(random)
        self.clock = clock
        self.startup_grace_s = startup_grace_s
        self.seq = 0
        self.failed = 0  # failed beats so far: the log names the count, and says every tenth
        self.last_error: str | None = None
        # The delays the loop chose, newest last: for diagnostics and tests.
        self.delays: collections.deque[tuple[str, float]] = collections.deque(maxlen=64)
        self._started_at = clock()
        self._been_ready = False
        self._stopping = False
        self._last_sent: tuple[str, bool] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._first_stopping: asyncio.Task[bool] | None = None
        self._lock = asyncio.Lock()  # one beat in flight at a time, so seq order is send order

    # -- state -----------------------------------------------------------------------------

    def state_for(self, ready: bool) -> str:
        if self._stopping:
            return STOPPING
        if ready:
            self._been_ready = True
            return READY
        if not self._been_ready and self.clock() - self._started_at < self.startup_grace_s:
            return STARTING
        return DEGRADED

    def changed(self) -> None:
        """Something a beat carries changed (agentReady flipped): beat at once unless backing off."""
        if not self.backoff.failing:
            self._wake.set()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="heartbeat")

    def begin_stopping(self) -> None:
        """Shutdown has begun: the periodic beats end and one `stopping` beat goes out at once,
        so the control plane stops sending calls while those in flight finish; stop() sends the
        last one."""
        if self._stopping:
            return
        self._halt()
        self._first_stopping = asyncio.get_running_loop().create_task(
            self.beat(timeout_s=STOPPING_BEAT_TIMEOUT_S), name="heartbeat stopping"
        )

    def _halt(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        """Stop the loop and send the last `stopping` beat, bounded to STOPPING_BEAT_TIMEOUT_S."""
        self._halt()
        pending = [task for task in (self._task, self._first_stopping) if task is not None]
        if self._first_stopping is not None:
            self._first_stopping.cancel()  # still hanging: the last beat supersedes it
        await asyncio.gather(*pending, return_exceptions=True)
        try:
            await asyncio.wait_for(self.beat(timeout_s=STOPPING_BEAT_TIMEOUT_S), STOPPING_BEAT_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("last heartbeat not sent", extra={"error": f"no answer within {STOPPING_BEAT_TIMEOUT_S:g} s"})
        finally:
            await self.client.close()

    # -- beats -----------------------------------------------------------------------------

    def body(self) -> dict[str, Any]:
        status = self.snapshot()
        self.seq += 1
        return {
            "desktopId": self.desktop_id,
            "state": self.state_for(status.agent_ready),
            **status.beat_fields(),  # agentReady, bootId, version, uptimeS, display, chat, metrics
            "seq": self.seq,
            "sentAt": utc_now(),
        }

    async def beat(self, timeout_s: float | None = None) -> bool:
        """Send one beat now; True on a 2xx. Never raises for a control-plane failure."""
        async with self._lock:
            body = self.body()
            self._last_sent = (body["state"], body["agentReady"])
            try:
                reply = await self.client.post(body, timeout_s)
            except BeatFailed as exc:
                self.failed += 1
                if self.last_error is None or self.failed % 10 == 1:  # do not flood the journal
                    log.warning("heartbeat failed", extra={"seq": body["seq"], "error": str(exc), "failures": self.failed})
                self.last_error = str(exc)
                return False
            if self.last_error is not None:
                log.info("heartbeat recovered", extra={"seq": body["seq"]})
            self.last_error = None
            if reply.interval_s is not None and reply.interval_s != self.interval_s:
                log.info("heartbeat interval changed by the control plane", extra={"intervalS": reply.interval_s})
                self.interval_s = reply.interval_s
            return True

    def _pending_change(self) -> bool:
        """True when the state a beat would carry differs from the last one sent."""
        if self._last_sent is None:
            return True
        ready = bool(self.is_ready())
        return (self.state_for(ready), ready) != self._last_sent

    async def _run(self) -> None:
        while not self._stopping:  # not only cancel(): wait_for may swallow one before 3.12
            try:
                ok = await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in the snapshot must not end the heartbeat
                log.exception("heartbeat beat failed")
                ok = False
            if ok:
                self.backoff.success()
                reason, delay = "interval", jittered(self.interval_s, self.random)
            else:
                reason, delay = "backoff", self.backoff.failure()
            self.delays.append((reason, delay))
            await self._sleep(delay)

    async def _sleep(self, delay: float) -> None:
        """Wait for delay, or less when a change must be sent at once."""
        deadline = self.clock() + delay
        self._wake.clear()
        grace_end = self._started_at + self.startup_grace_s
        while not self._stopping:
            now = self.clock()
            if now >= deadline:
                return
            wait = deadline - now
            if not self._been_ready and now < grace_end:
                wait = min(wait, grace_end - now + 0.01)  # starting -> degraded is a change too
            await wait_event(self._wake, wait)
            self._wake.clear()
            if not self.backoff.failing and self._pending_change():
                return
