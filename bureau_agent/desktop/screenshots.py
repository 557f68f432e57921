"""The screenshot service: capture, ETag, a cache of encoded images, bounded encoding threads.

An image is identified by its ETag: a hash of the frame's content digest and every option that
changes the output bytes (format, quality, output size, region, and the pointer's position and
image when it is drawn). So:
- a matching If-None-Match is answered without encoding anything (`Shot.data` is None);
- an image already encoded for the same frame and options comes from the cache;
- concurrent requests for the same image share one encode.
Encodes run on their own bounded thread pool, never on the event loop nor on the capture thread.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import logging

import xxhash

from bureau_agent.desktop.capture import Capturer, Cursor, Frame
from bureau_agent.desktop.encode import DEFAULT_QUALITY, MEDIA_TYPES, Region, encode_sized, fit, release_memory
from bureau_agent.errors import OutOfBounds

log = logging.getLogger("bureau_agent.screenshots")

# After this long without an encode, what only a burst of screenshots needs is given back: the
# encoded-image cache, the capturer's last frame, Pillow's kept blocks and glibc's free lists.
IDLE_RELEASE_S = 5.0


@dataclasses.dataclass(frozen=True)
class ShotOptions:
    fmt: str = "png"
    quality: int | None = None  # jpeg/webp only; None = the encoder's default
    max_width: int | None = None
    max_height: int | None = None
    region: Region | None = None
    cursor: bool = False


@dataclasses.dataclass(frozen=True)
class Shot:
    etag: str  # quoted, ready for the ETag header
    media_type: str
    screen_width: int
    screen_height: int
    width: int  # of the image
    height: int
    scale: float  # image pixels per screen pixel
    data: bytes | None  # None: the client's If-None-Match matched


def etag_matches(header: str | None, etag: str) -> bool:
    """If-None-Match semantics (RFC 9110 13.1.2): weak comparison, a list, or *."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


class _Cache:
    """Encoded images by ETag, least recently used first out, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: collections.OrderedDict[str, bytes] = collections.OrderedDict()

    def get(self, key: str) -> bytes | None:
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes or key in self._items:
            return
        self._items[key] = data
        self.size += len(data)
        while self.size > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.size -= len(old)

    def clear(self) -> None:
        self._items.clear()
        self.size = 0


class Screenshots:
    def __init__(
        self,
        capturer: Capturer,
        *,
        max_concurrent: int = 2,
        cache_bytes: int = 32 * 1024 * 1024,
        idle_release_s: float = IDLE_RELEASE_S,
    ) -> None:
        self.capturer = capturer
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="encode")
        self._cache = _Cache(cache_bytes)
        self._inflight: dict[str, asyncio.Future[bytes]] = {}
        self._idle_release_s = idle_release_s
        self._release: asyncio.TimerHandle | None = None
        self._closed = False
        # Kept although only the tests read them: they are the one observable of a cache hit and
        # of the quiet-spell release (the bytes are the same either way), for one int add each.
        self.encodes = 0  # images actually encoded (the rest came from the cache or were 304s)
        self.releases = 0  # times encoding memory was given back after a quiet spell

    def in_flight(self) -> list[asyncio.Future[bytes]]:
        """The encodes running or queued right now."""
        return list(self._inflight.values())

    async def close(self) -> None:
        # Encodes finishing while the pool shuts down still settle; once closed they start no
        # quiet-spell timer, whose release would be handed to the shut-down pool.
        self._closed = True
        self._cancel_release()
        await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown, True)
        self._cancel_release()

    def _cancel_release(self) -> None:
        if self._release is not None:
            self._release.cancel()
            self._release = None

    async def shot(self, options: ShotOptions, if_none_match: str | None = None) -> Shot:
        frame, cursor = await self.capturer.screen(options.cursor)
        region = options.region
        if region is not None:
            _check_region(region, frame)
        src_w, src_h = (region.width, region.height) if region else (frame.width, frame.height)
        out_w, out_h, scale = fit(src_w, src_h, options.max_width, options.max_height)
        etag = _etag(frame, cursor, options, out_w, out_h)
        shot = Shot(etag, MEDIA_TYPES[options.fmt], frame.width, frame.height, out_w, out_h, scale, None)
        if etag_matches(if_none_match, etag):
            return shot
        return dataclasses.replace(shot, data=await self._encoded(etag, frame, cursor, options, (out_w, out_h)))

    async def _encoded(
        self, etag: str, frame: Frame, cursor: Cursor | None, options: ShotOptions, size: tuple[int, int]
    ) -> bytes:
        data = self._cache.get(etag)
        if data is not None:
            return data
        pending = self._inflight.get(etag)
        if pending is not None:
            return await asyncio.shield(pending)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._pool,
            lambda: encode_sized(frame, options.fmt, options.quality, size, region=options.region, cursor=cursor),
        )
        self._inflight[etag] = future
        self.encodes += 1

        def settle(done: asyncio.Future[bytes]) -> None:  # runs even when every caller went away
            del self._inflight[etag]
            if not done.cancelled() and done.exception() is None:
                self._cache.put(etag, done.result())
            self._release_when_quiet()

        future.add_done_callback(settle)
        return await asyncio.shield(future)  # a caller that goes away does not cancel others' encode

    def _release_when_quiet(self) -> None:
        """(Re)start the quiet-spell timer; when it fires, give encoding memory back off the loop."""
        self._cancel_release()
        if self._closed:
            return
        loop = asyncio.get_running_loop()

        def release() -> None:
            self._release = None
            if not self._inflight:
                loop.create_task(self.release_idle())

        self._release = loop.call_later(self._idle_release_s, release)

    async def release_idle(self) -> None:
        """Give back what only a burst of screenshots needs (the quiet-spell timer calls this).

        A 1920x1080 frame is 8 MiB and the cache up to cache_bytes: kept while screenshots come
        quickly (an unchanged screen is answered from them), they were most of the idle RSS
        after a benchmark. Afterwards an unchanged screen costs one grab and one encode again;
        its ETag, and so If-None-Match, are unchanged (they hash the content).
        """
        if self._closed or self._inflight:
            return
        self.releases += 1
        self._cache.clear()
        await self.capturer.drop_frame()
        if not self._closed:  # the trim last, once the frame and the images are free
            await asyncio.get_running_loop().run_in_executor(self._pool, release_memory)


def _check_region(region: Region, frame: Frame) -> None:
    if region.x < 0 or region.y < 0 or region.x + region.width > frame.width or region.y + region.height > frame.height:
        raise OutOfBounds(
            f"region {region.x},{region.y},{region.width},{region.height} is not inside the "
            f"{frame.width}x{frame.height} screen.",
            details={"field": "region", "screenWidth": frame.width, "screenHeight": frame.height},
        )


def _etag(frame: Frame, cursor: Cursor | None, options: ShotOptions, out_w: int, out_h: int) -> str:
    # PNG is lossless: quality ignored. Otherwise no quality is the default one: the same bytes.
    quality = None if options.fmt == "png" else DEFAULT_QUALITY if options.quality is None else options.quality
    region = options.region or Region(0, 0, frame.width, frame.height)
    pointer = (cursor.x, cursor.y, cursor.serial) if cursor is not None else None
    key = repr((frame.width, frame.height, options.fmt, quality, out_w, out_h, dataclasses.astuple(region), pointer))
    return '"' + xxhash.xxh3_128_hexdigest(frame.digest + key.encode()) + '"'
