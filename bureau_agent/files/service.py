"""The files service: each /v1/files operation as the desktop user, bounded and streamed.

Every path goes to a helper process running as the desktop user (helper.py, worker.py); the
agent itself only ever reads or writes descriptors that helper opened, so what the user cannot
open, the API cannot read or write. Disk work on those descriptors runs in the service's own
thread pool, never on the event loop. An upload handed over as chunks is hashed and written one
batch at a time while the next batch arrives, so memory stays at two batches whatever the size;
one handed over as a socket (SocketBody) is spliced into the file and hashed back from the page
cache one step behind (splice.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import hashlib
import os
import posixpath
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

from bureau_agent.errors import Busy, InvalidRequest, PayloadTooLarge
from bureau_agent.files import splice
from bureau_agent.files.helper import START_TIMEOUT_S, Helper, expect, interpreter, os_error
from bureau_agent.files.splice import CallerGone, SocketBody
from bureau_agent.process.environment import Session

MAX_PATH = 4096
WRITE_BYTES = 1 << 20  # an upload is written in batches of about this size
WRITE_CHUNKS = 256  # or of this many chunks (well under IOV_MAX, 1024)
ENTRY_TYPES = frozenset({"file", "dir", "symlink", "other"})


def iso_time(ns: Any) -> str | None:
    if not isinstance(ns, int):
        return None
    moment = datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mode_text(mode: Any) -> str | None:
    return f"{mode & 0o7777:04o}" if isinstance(mode, int) else None


@dataclasses.dataclass
class OpenFile:
    """A regular file the desktop user opened; the caller streams it, then close()s it."""

    path: str
    file: BinaryIO
    size: int
    mtime_ns: int
    ino: int

    @property
    def etag(self) -> str:
        return f'"{self.ino:x}-{self.mtime_ns:x}-{self.size:x}"'

    def close(self) -> None:
        self.file.close()


@dataclasses.dataclass
class Listing:
    path: str
    mtime_ns: int | None
    entries: list[dict[str, Any]]
    truncated: bool

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "entries": self.entries, "truncated": self.truncated}


@dataclasses.dataclass(frozen=True)
class Uploaded:
    path: str
    size: int
    sha256: str
    created: bool

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


def _entry(item: Any) -> dict[str, Any] | None:
    """One listing entry as the API shows it; anything malformed from the helper is dropped."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return None
    out: dict[str, Any] = {
        "name": item["name"],
        "type": item["type"] if item.get("type") in ENTRY_TYPES else "other",
        "size": item["size"] if isinstance(item.get("size"), int) else None,
        "modifiedAt": iso_time(item.get("mtimeNs")),
        "mode": mode_text(item.get("mode")),
    }
    if isinstance(item.get("target"), str):
        out["target"] = item["target"]
    return out


def _write(fd: int, digest: Any, batch: list[bytes]) -> None:
    """Hash and write the chunks as they came (no joined copy); writev, then the rare remainder."""
    for chunk in batch:
        digest.update(chunk)  # hashlib releases the GIL for anything but tiny chunks
    written = os.writev(fd, batch)
    for chunk in batch:
        if written >= len(chunk):
            written -= len(chunk)
            continue
        view = memoryview(chunk)[written:]
        written = 0
        while view:
            view = view[os.write(fd, view) :]


def _write_and_sync(fd: int, digest: Any, batch: list[bytes]) -> None:
    if batch:
        _write(fd, digest, batch)
    os.fsync(fd)


class FileService:
    def __init__(
        self,
        session: Session,
        *,
        max_upload_bytes: int,
        max_entries: int,
        max_concurrent: int,
        umask: int,
        python: str = "python3",
    ) -> None:
        self.session = session
        self.max_upload_bytes = max_upload_bytes
        self.max_entries = max_entries
        self.max_concurrent = max_concurrent
        self.umask = umask
        self.python = interpreter(python)
        self._running = 0
        # Two jobs per operation at most (a spliced upload: one splicing, one hashing).
        self._executor = ThreadPoolExecutor(max_workers=2 * max_concurrent, thread_name_prefix="files")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of files_max_concurrent operations; past that, 429 busy."""
        if self._running >= self.max_concurrent:
            raise Busy(f"{self.max_concurrent} file operations are already running (files_max_concurrent); retry shortly.", retry_after_s=1)
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1

    def resolve(self, path: Any, field: str = "path") -> str:
        """An absolute path: as given, or relative to the desktop user's home. No normalisation:
        `..` and symlinks are the kernel's to follow, with the user's rights."""
        if not isinstance(path, str) or path == "":
            raise InvalidRequest(f"{field} must be a non-empty path.", details={"field": field})
        if "\x00" in path:
            raise InvalidRequest(f"{field} must not contain NUL characters.", details={"field": field})
        if len(path.encode("utf-8", "surrogateescape")) > MAX_PATH:
            raise InvalidRequest(f"{field} is longer than {MAX_PATH} bytes.", details={"field": field})
        return path if path.startswith("/") else posixpath.join(self.session.run_as().home, path)

    def _helper(self) -> Any:
        return Helper.start(self.session.run_as(), self.umask, self.python)

    async def open(self, path: str, *, listing: bool = True) -> OpenFile | Listing:
        """A file opened for reading, or a directory's listing (without entries: listing=False)."""
        target = self.resolve(path)
        async with await self._helper() as helper:
            await helper.send({"op": "open", "path": target, "list": listing, "maxEntries": self.max_entries})
            reply, fd = await helper.receive()
            if reply.get("ok") is True and reply.get("kind") == "file":
                expect(reply, fd, {"path": target}, want_fd=True)
                assert fd is not None
                st = os.fstat(fd)  # the descriptor's own facts, not the helper's word for them
                return OpenFile(target, os.fdopen(fd, "rb"), st.st_size, st.st_mtime_ns, st.st_ino)
            expect(reply, fd, {"path": target})
            entries: list[dict[str, Any]] = []
            if listing:
                while True:
                    part, fd = await helper.receive()
                    expect({"ok": part.get("ok") is not False, **part}, fd, {"path": target})  # a failure midway
                    for item in part.get("entries", []) if isinstance(part.get("entries"), list) else []:
                        if len(entries) < self.max_entries and (e := _entry(item)) is not None:
                            entries.append(e)
                    if part.get("end") is True:
                        break
            mtime = reply.get("mtimeNs")
            return Listing(target, mtime if isinstance(mtime, int) else None, entries, reply.get("truncated") is True)

    async def read(self, opened: OpenFile, offset: int, size: int) -> bytes:
        """Bytes of an open file, on the files threads (for transports that cannot sendfile)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, os.pread, opened.file.fileno(), size, offset)

    async def _simple(self, message: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
        async with await self._helper() as helper:
            await helper.send(message)
            reply, fd = await helper.receive()
            return expect(reply, fd, names)

    async def delete(self, path: str, *, recursive: bool) -> str:
        target = self.resolve(path)
        await self._simple({"op": "delete", "path": target, "recursive": recursive}, {"path": target})
        return target

    async def mkdir(self, path: str, *, parents: bool) -> tuple[str, bool]:
        target = self.resolve(path)
        reply = await self._simple({"op": "mkdir", "path": target, "parents": parents}, {"path": target})
        return target, reply.get("created") is True

    async def move(self, source: str, target: str, *, overwrite: bool) -> tuple[str, str]:
        src, dst = self.resolve(source, "from"), self.resolve(target, "to")
        await self._simple({"op": "move", "from": src, "to": dst, "overwrite": overwrite}, {"from": src, "to": dst})
        return src, dst

    def check_length(self, length: int | None) -> None:
        """A declared Content-Length over the limit is refused before a byte is read."""
        if length is not None and length > self.max_upload_bytes:
            raise self._too_large()

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"The upload is larger than the limit of {self.max_upload_bytes} bytes (files_max_upload_bytes); nothing was written."
        )

    async def upload(self, path: str, body: AsyncIterator[bytes] | SocketBody, *, parents: bool, overwrite: bool) -> Uploaded:
        """Stream the body (chunks, or a socket to splice from) into a temporary file in the
        target's directory, fsync, rename it into place.

        Any failure (too large, disk full, the caller gone) closes the helper's socket and waits
        for the helper to exit before this returns; the helper removes its temporary file on the
        way out: nothing is left behind."""
        target = self.resolve(path)
        names = {"path": target}
        async with await self._helper() as helper:
            await helper.send({"op": "create", "path": target, "parents": parents, "overwrite": overwrite})
            reply, fd = await helper.receive(START_TIMEOUT_S)
            expect(reply, fd, names, want_fd=True)
            assert fd is not None
            try:
                if isinstance(body, SocketBody):
                    size, digest = await self._splice(fd, body, target)
                else:
                    size, digest = await self._fill(fd, body, target)
            finally:
                os.close(fd)
            await helper.send({"op": "commit"})
            reply, extra = await helper.receive()
            expect(reply, extra, names)
        return Uploaded(target, size, digest, reply.get("created") is True)

    async def _fill(self, fd: int, chunks: AsyncIterator[bytes], target: str) -> tuple[int, str]:
        loop = asyncio.get_running_loop()
        digest = hashlib.sha256()
        pending: asyncio.Future[None] | None = None
        batch: list[bytes] = []
        batched = total = 0
        try:
            async for chunk in chunks:
                total += len(chunk)
                if total > self.max_upload_bytes:
                    raise self._too_large()
                batch.append(chunk)
                batched += len(chunk)
                if batched >= WRITE_BYTES or len(batch) >= WRITE_CHUNKS:
                    if pending is not None:
                        await pending
                    # One batch in flight while the next arrives: order kept, memory bounded.
                    pending = loop.run_in_executor(self._executor, _write, fd, digest, batch)
                    batch, batched = [], 0
            if pending is not None:
                await pending
            pending = loop.run_in_executor(self._executor, _write_and_sync, fd, digest, batch)
            await pending
            pending = None
        except OSError as exc:
            raise os_error(exc, target) from None
        finally:
            if pending is not None and not pending.done():
                # The thread still writes to fd: let it finish before the caller closes fd.
                with contextlib.suppress(BaseException):
                    await asyncio.shield(pending)
        return total, digest.hexdigest()

    async def _splice(self, fd: int, body: SocketBody, target: str) -> tuple[int, str]:
        """The body spliced into fd (splice.py), the sha256 taken one step behind; at most one
        splicing and one hashing job in flight, and both finished before this returns."""
        if body.total > self.max_upload_bytes:
            raise self._too_large()
        loop = asyncio.get_running_loop()
        digest = hashlib.sha256()
        buf = bytearray(splice.HASH_READ)
        hashing: asyncio.Future[None] | None = None
        splicing: asyncio.Future[int] | None = None
        try:
            with splice.pipe() as ends:
                try:
                    if body.head:
                        hashing = loop.run_in_executor(self._executor, _write_head, fd, digest, body.head)
                    done = len(body.head)
                    if body.length:
                        body.check()
                        splicing = loop.run_in_executor(self._executor, splice.step, body, ends, fd, done, self._step(body))
                    while splicing is not None:
                        moved = await splicing
                        splicing = None
                        start, done = done, done + moved
                        if body.remaining:  # the next step runs while this one is hashed
                            body.check()
                            splicing = loop.run_in_executor(self._executor, splice.step, body, ends, fd, done, self._step(body))
                        if moved:
                            if hashing is not None:
                                await hashing
                            hashing = loop.run_in_executor(self._executor, splice.hash_range, fd, digest, start, moved, buf)
                    if hashing is not None:
                        await hashing
                    hashing = loop.run_in_executor(self._executor, os.fsync, fd)
                    await hashing
                    hashing = None
                finally:
                    # A thread still using fd or the pipe: let it finish before they are closed.
                    for pending in (splicing, hashing):
                        if pending is not None and not pending.done():
                            with contextlib.suppress(BaseException):
                                await asyncio.shield(pending)
        except CallerGone:
            raise
        except OSError as exc:
            raise os_error(exc, target) from None
        return body.total, digest.hexdigest()

    @staticmethod
    def _step(body: SocketBody) -> int:
        return min(splice.STEP_BYTES, body.remaining)


def _write_head(fd: int, digest: Any, head: bytes) -> None:
    digest.update(head)
    view = memoryview(head)
    while view:
        view = view[os.pwrite(fd, view, len(head) - len(view)) :]
