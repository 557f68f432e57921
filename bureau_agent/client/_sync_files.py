"""GENERATED from _async_files.py by _unasync.py: do not edit (the sync client, same methods)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional, Union

from bureau_agent.client._sync_io import Sink, Source, read_source, write_sink
from bureau_agent.client._sync_transport import Content
from bureau_agent.client._common import STREAM_TIMEOUT, body, query
from bureau_agent.client.errors import BureauError, FileNotFound, NotFound
from bureau_agent.client.models import ClipboardContent, ClipboardSet, Directory, FileInfo, Selection, Written

if TYPE_CHECKING:
    from bureau_agent.client._sync_desktop import Desktop


class Clipboard:
    """desktop.clipboard: read and set the X selections (clipboard, or primary)."""

    def __init__(self, desktop: Desktop) -> None:
        self._desktop = desktop

    def get(self, *, selection: Optional[Selection] = None) -> ClipboardContent:
        """The selection's text (None when no one owns it), its targets and owner window."""
        d = self._desktop
        return d.bureau._json("GET", f"{d.path}/clipboard", params=query(selection=selection))

    def set(self, text: str, *, selection: Optional[Selection] = None) -> ClipboardSet:
        """Own the selection with this text until another application takes it."""
        return self._desktop._post("clipboard", body(text=text, selection=selection))


class Files:
    """desktop.files: the desktop's files, with the desktop user's rights. Paths are absolute
    or relative to that user's home. Uploads and downloads stream: never all in memory."""

    def __init__(self, desktop: Desktop) -> None:
        self._desktop = desktop
        self._path = f"{desktop.path}/files"

    def list(self, path: str = ".") -> Directory:
        """A directory's entries, sorted by name."""
        response = self._desktop.bureau.request("GET", self._path, params={"path": path})
        if not response.headers.get("content-type", "").startswith("application/json"):
            raise BureauError(f"{path} is a file, not a directory: use read() or download()", code="not_a_directory")
        return response.json()

    def read(self, path: str) -> bytes:
        """A (small) file's bytes; download() streams a large one to disk."""
        response = self._desktop.bureau.request("GET", self._path, params={"path": path})
        return response.content

    def download(self, path: str, dest: Sink) -> int:
        """Stream a file to `dest` (a path, created or replaced, or a binary file object). → bytes."""
        response = self._desktop.bureau.request(
            "GET", self._path, params={"path": path}, stream=True, timeout=STREAM_TIMEOUT
        )
        try:
            return write_sink(response.iter_bytes(), dest)
        finally:
            response.close()

    def upload(
        self,
        path: str,
        source: Union[bytes, Source],
        *,
        parents: Optional[bool] = None,
        overwrite: Optional[bool] = None,
    ) -> Written:
        """Write `source` (bytes, a path, or a binary file object, streamed) to `path` on the
        desktop, atomically. → its path, size and sha256."""
        params = query(path=path, parents=parents, overwrite=overwrite)
        headers = {"Content-Type": "application/octet-stream"}
        content: Content
        if isinstance(source, (bytes, bytearray, memoryview)):
            content = bytes(source)
        else:
            size = _size_of(source)
            if size is not None:
                headers["Content-Length"] = str(size)  # so the server can refuse an oversize body up front
            content = read_source(source)
        return self._desktop.bureau._json(
            "PUT", self._path, params=params, content=content, headers=headers, timeout=STREAM_TIMEOUT
        )

    def stat(self, path: str) -> FileInfo:
        """HEAD: a file's size, type, ETag and modification time without its bytes."""
        try:
            response = self._desktop.bureau.request("HEAD", self._path, params={"path": path})
        except NotFound as exc:
            if exc.code != "http_404":
                raise
            # a HEAD answer has no body to name its code: on this route a 404 is a missing path
            raise FileNotFound(f"{path} does not exist (as the desktop user sees it).", status=404) from exc
        h = response.headers
        length = h.get("content-length")
        return FileInfo(
            path=path,
            size=int(length) if length and length.isdigit() else None,
            content_type=h.get("content-type"),
            etag=h.get("etag"),
            last_modified=h.get("last-modified"),
        )

    def delete(self, path: str, *, recursive: Optional[bool] = None) -> dict[str, bool]:
        d = self._desktop
        return d.bureau._json("DELETE", self._path, params=query(path=path, recursive=recursive))

    def mkdir(self, path: str, *, parents: Optional[bool] = None) -> dict[str, Any]:
        return self._desktop._post("files/mkdir", body(path=path, parents=parents))

    def move(self, from_: str, to: str, *, overwrite: Optional[bool] = None) -> dict[str, Any]:
        return self._desktop._post("files/move", body(from_=from_, to=to, overwrite=overwrite))


def _size_of(source: Source) -> Optional[int]:
    """The number of bytes an upload will send, when it can be known without reading it."""
    try:
        if isinstance(source, (str, os.PathLike)):
            return os.stat(source).st_size
        if source.seekable():
            return os.fstat(source.fileno()).st_size - source.tell()
    except (OSError, ValueError, AttributeError):
        pass
    return None
