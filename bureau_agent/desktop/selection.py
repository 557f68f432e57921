"""The selection thread: a second X connection, a window of its own, and the ICCCM conversations.

One thread owns this connection (python-xlib is not thread-safe) and runs an event loop on it:
commands from asyncio arrive through a queue and a wake-up pipe, X events are read as they come.
Nothing here ever waits for another client: a read is a small state machine (TARGETS, then the
text, then INCR chunks) advanced by events and bounded by deadlines, and serving a large value is
one INCR transfer per reader, advanced by that reader's PropertyNotify(Delete). A slow or dead
reader therefore costs nothing but its own transfer, which ends on its window's DestroyNotify or
a deadline; ownership is unaffected.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import queue
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib.protocol import event as xevent
from Xlib.protocol import request as xrequest

from bureau_agent.desktop.display import CONNECTION_ERRORS
from bureau_agent.desktop.ewmh import Atoms, decode_compound_text
from bureau_agent.errors import ClipboardTimeout, DisplayUnavailable, PayloadTooLarge

log = logging.getLogger("bureau_agent.clipboard")

TEXT_PLAIN = "text/plain;charset=utf-8"
ATOMS = (
    "CLIPBOARD", "TARGETS", "MULTIPLE", "TIMESTAMP", "UTF8_STRING", "TEXT", TEXT_PLAIN, "INCR",
    "ATOM_PAIR", "COMPOUND_TEXT", "BUREAU_AGENT_SELECTION", "BUREAU_AGENT_TIME",
)
READ_CAP_S = 60.0  # a read that keeps progressing still ends (an owner that trickles bytes)
TRANSFER_IDLE_S = 10.0  # an INCR reader that stops deleting is dropped after this long


@dataclasses.dataclass(frozen=True)
class Content:
    text: str | None
    targets: list[str]
    owner: int | None

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "targets": self.targets, "owner": self.owner}


@dataclasses.dataclass
class _Owned:
    text: str
    utf8: bytes
    time: int
    _latin1: bytes | None = None

    @property
    def latin1(self) -> bytes:
        if self._latin1 is None:
            self._latin1 = self.text.encode("latin-1", "replace")
        return self._latin1


@dataclasses.dataclass
class _Transfer:
    """An INCR transfer to one reader's property."""

    requestor: int
    prop: int
    type: int
    data: bytes
    offset: int = 0
    deadline: float = 0.0


@dataclasses.dataclass
class _Read:
    selection: int
    future: concurrent.futures.Future[Content]
    stage: str = "start"  # start, targets, data, incr
    owner: int | None = None
    targets: list[str] = dataclasses.field(default_factory=list)
    tried: list[str] = dataclasses.field(default_factory=list)
    target: int = 0
    buffer: bytearray = dataclasses.field(default_factory=bytearray)
    incr_type: int = 0
    deadline: float = 0.0
    cap: float = 0.0


@dataclasses.dataclass
class _Own:
    selection: int
    text: str
    data: bytes
    future: concurrent.futures.Future[None]
    deadline: float


class SelectionThread:
    def __init__(self, display_name: str | None, *, max_bytes: int, timeout_s: float) -> None:
        self.display_name = display_name
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._conn: xdisplay.Display | None = None
        self._atoms: Atoms | None = None
        self._window: Any = None
        self._owned: dict[int, _Owned] = {}
        self._owns: list[_Own] = []
        self._reads: list[_Read] = []  # the first one is in progress, one at a time
        self._transfers: dict[tuple[int, int], _Transfer] = {}
        self._atom_names: dict[int, str] = {}

    # -- from the event loop ---------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="x-selection", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(10)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _submit(self, command: Callable[[concurrent.futures.Future[Any]], None]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self._stopping:
            future.set_exception(DisplayUnavailable("The agent is shutting down."))
            return future
        self._commands.put(lambda: command(future))
        self._wake()
        return future

    def submit_read(self, selection: str) -> concurrent.futures.Future[Content]:
        return self._submit(lambda f: self._start_read(selection, f))

    def submit_own(self, selection: str, text: str, data: bytes) -> concurrent.futures.Future[None]:
        return self._submit(lambda f: self._start_own(selection, text, data, f))

    # -- the thread ------------------------------------------------------------------------

    def _main(self) -> None:
        while not self._stopping:
            try:
                self._iterate()
            except CONNECTION_ERRORS as exc:
                log.warning("clipboard connection lost", extra={"error": str(exc) or type(exc).__name__})
                self._drop(DisplayUnavailable("The X display went away during a clipboard call.", retry_after_s=1))
            except Exception:
                log.exception("clipboard thread error")
                self._drop(DisplayUnavailable("The clipboard connection failed; try again.", retry_after_s=1))
        self._drop(DisplayUnavailable("The agent is shutting down."))

    def _iterate(self) -> None:
        conn = self._conn
        if conn is not None and conn.pending_events():
            timeout: float | None = 0
        else:
            timeout = self._next_deadline()
        fds = [self._wake_r] + ([conn.fileno()] if conn is not None else [])
        ready = select.select(fds, [], [], timeout)[0]
        if self._wake_r in ready:
            os.read(self._wake_r, 4096)
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                break
            command()
        conn = self._conn
        if conn is not None:
            while conn.pending_events():
                self._handle(conn.next_event())
        self._expire()

    def _next_deadline(self) -> float | None:
        deadlines = [r.deadline for r in self._reads[:1]] + [o.deadline for o in self._owns]
        deadlines += [t.deadline for t in self._transfers.values()]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _ensure(self) -> xdisplay.Display:
        if self._conn is not None:
            return self._conn
        try:
            conn = xdisplay.Display(self.display_name)
        except Exception as exc:
            raise DisplayUnavailable(f"The X display {self.display_name} is not available right now.", retry_after_s=1) from exc
        conn.set_error_handler(lambda error, request: log.debug("clipboard X error", extra={"error": str(error)}))
        self._atoms = Atoms(conn, ATOMS)
        root = conn.screen().root
        self._window = root.create_window(-10, -10, 1, 1, 0, X.CopyFromParent, event_mask=X.PropertyChangeMask)
        self._window.set_wm_name("bureau-agent clipboard")
        conn.sync()
        self._conn = conn
        return conn

    def _drop(self, error: Exception) -> None:
        """The connection is gone (or the thread stops): fail every call in flight."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
        self._owned.clear()
        self._transfers.clear()
        for pending in [*self._reads, *self._owns]:
            if not pending.future.done():
                pending.future.set_exception(error)
        self._reads.clear()
        self._owns.clear()

    def _selection_atom(self, name: str) -> int:
        assert self._atoms is not None
        return Xatom.PRIMARY if name == "primary" else self._atoms.CLIPBOARD

    def _name(self, atom: int) -> str:
        name = self._atom_names.get(atom)
        if name is None:
            assert self._conn is not None
            name = self._atom_names[atom] = self._conn.get_atom_name(atom)
        return name

    def _names(self, atoms: list[int]) -> list[str]:
        """Atom names in one round trip for the ones not yet known."""
        assert self._conn is not None
        unknown = [a for a in dict.fromkeys(atoms) if a not in self._atom_names and a != X.NONE]
        requests = [xrequest.GetAtomName(display=self._conn.display, defer=True, atom=a) for a in unknown]
        for atom, req in zip(unknown, requests):
            try:
                req.reply()
                self._atom_names[atom] = req.name
            except Exception:  # BadAtom: garbage in a TARGETS list
                self._atom_names[atom] = ""
        return [self._atom_names[a] for a in atoms if a != X.NONE and self._atom_names.get(a)]

    # -- owning ----------------------------------------------------------------------------

    def _start_own(self, selection: str, text: str, data: bytes, future: concurrent.futures.Future[None]) -> None:
        try:
            self._ensure()
        except DisplayUnavailable as exc:
            future.set_exception(exc)
            return
        assert self._atoms is not None
        # ICCCM: own with a real timestamp, not CurrentTime; a zero-length append to a property of
        # our own window makes the server send one (PropertyNotify), handled in _handle.
        self._window.change_property(self._atoms.BUREAU_AGENT_TIME, Xatom.STRING, 8, b"", mode=X.PropModeAppend)
        self._owns.append(_Own(self._selection_atom(selection), text, data, future, time.monotonic() + self.timeout_s))

    def _take_ownership(self, stamp: int) -> None:
        assert self._conn is not None
        owns, self._owns = self._owns, []
        for own in owns:
            self._window.set_selection_owner(own.selection, stamp)
            owner = self._conn.get_selection_owner(own.selection)
            if getattr(owner, "id", X.NONE) == self._window.id:
                self._owned[own.selection] = _Owned(own.text, own.data, stamp)
                own.future.set_result(None)
            else:
                own.future.set_exception(ClipboardTimeout("Another client took the selection at the same moment; try again."))

    def _serve(self, ev: Any) -> None:
        assert self._atoms is not None
        a = self._atoms
        requestor = ev.requestor.id
        owned = self._owned.get(ev.selection)
        prop = ev.property or ev.target  # obsolete clients ask with property None
        answered = X.NONE
        if owned is not None and (ev.time == X.CurrentTime or ev.time >= owned.time):
            if ev.target == a.MULTIPLE:
                answered = self._serve_multiple(requestor, prop, owned)
            elif self._write(requestor, ev.target, prop, owned):
                answered = prop
        notify = xevent.SelectionNotify(
            time=ev.time, requestor=requestor, selection=ev.selection, target=ev.target, property=answered
        )
        self._conn_window(requestor).send_event(notify, onerror=self._ignore)

    def _serve_multiple(self, requestor: int, prop: int, owned: _Owned) -> int:
        assert self._atoms is not None
        window = self._conn_window(requestor)
        try:
            pairs = window.get_property(prop, self._atoms.ATOM_PAIR, 0, 1024)
        except Exception:  # the requestor vanished
            return X.NONE
        if pairs is None or pairs.format != 32:
            return X.NONE
        values = list(pairs.value)
        for i in range(0, len(values) - 1, 2):
            target, target_prop = values[i], values[i + 1]
            if target == self._atoms.MULTIPLE or not self._write(requestor, target, target_prop, owned):
                values[i + 1] = X.NONE
        window.change_property(prop, self._atoms.ATOM_PAIR, 32, values, onerror=self._ignore)
        return prop

    def _targets(self) -> list[int]:
        assert self._atoms is not None
        a = self._atoms
        return [a.TARGETS, a.MULTIPLE, a.TIMESTAMP, a.UTF8_STRING, Xatom.STRING, a.TEXT, getattr(a, TEXT_PLAIN)]

    def _write(self, requestor: int, target: int, prop: int, owned: _Owned) -> bool:
        assert self._atoms is not None
        a = self._atoms
        window = self._conn_window(requestor)
        if target == a.TARGETS:
            window.change_property(prop, Xatom.ATOM, 32, self._targets(), onerror=self._ignore)
            return True
        if target == a.TIMESTAMP:
            window.change_property(prop, Xatom.INTEGER, 32, [owned.time], onerror=self._ignore)
            return True
        if target in (a.UTF8_STRING, a.TEXT):
            type_, data = a.UTF8_STRING, owned.utf8  # TEXT may be answered in any text encoding
        elif target == getattr(a, TEXT_PLAIN):
            type_, data = target, owned.utf8
        elif target == Xatom.STRING:
            type_, data = Xatom.STRING, owned.latin1
        else:
            return False
        if len(data) <= self._chunk():
            window.change_property(prop, type_, 8, data, onerror=self._ignore)
            return True
        # INCR: announce the size; each PropertyNotify(Delete) by the reader asks for the next chunk.
        window.change_attributes(event_mask=X.PropertyChangeMask | X.StructureNotifyMask, onerror=self._ignore)
        window.change_property(prop, a.INCR, 32, [len(data)], onerror=self._ignore)
        self._transfers[(requestor, prop)] = _Transfer(requestor, prop, type_, data, deadline=time.monotonic() + TRANSFER_IDLE_S)
        return True

    def _chunk(self) -> int:
        assert self._conn is not None
        # max_request_length counts 4-byte units; keep room for ChangeProperty's own header
        return self._conn.display.info.max_request_length * 4 - 64

    def _continue_transfer(self, transfer: _Transfer) -> None:
        chunk = transfer.data[transfer.offset : transfer.offset + self._chunk()]
        self._conn_window(transfer.requestor).change_property(transfer.prop, transfer.type, 8, chunk, onerror=self._ignore)
        transfer.offset += len(chunk)
        transfer.deadline = time.monotonic() + TRANSFER_IDLE_S
        if not chunk:  # the zero-length chunk was the end marker: done
            del self._transfers[(transfer.requestor, transfer.prop)]

    def _drop_transfers(self, window: int) -> None:
        for key in [k for k in self._transfers if k[0] == window]:
            del self._transfers[key]

    def _conn_window(self, wid: int) -> Any:
        assert self._conn is not None
        return self._conn.create_resource_object("window", wid)

    @staticmethod
    def _ignore(error: Any, request: Any) -> None:
        """Errors writing to a reader's window: it went away, its transfer ends by DestroyNotify."""
        log.debug("clipboard reader error", extra={"error": str(error)})

    # -- reading ---------------------------------------------------------------------------

    def _start_read(self, selection: str, future: concurrent.futures.Future[Content]) -> None:
        try:
            self._ensure()
        except DisplayUnavailable as exc:
            future.set_exception(exc)
            return
        self._reads.append(_Read(self._selection_atom(selection), future))
        if len(self._reads) == 1:
            self._begin(self._reads[0])

    def _begin(self, read: _Read) -> None:
        assert self._conn is not None and self._atoms is not None
        owner = self._conn.get_selection_owner(read.selection)
        owner_id = owner.id if owner else X.NONE
        if owner_id == X.NONE:
            self._finish(read, Content(None, [], None))
            return
        read.owner = owner_id
        owned = self._owned.get(read.selection)
        if owner_id == self._window.id and owned is not None:
            self._finish(read, Content(owned.text, self._names(self._targets()), owner_id))
            return
        now = time.monotonic()
        read.cap = now + READ_CAP_S
        self._convert(read, self._atoms.TARGETS, "targets")

    def _convert(self, read: _Read, target: int, stage: str) -> None:
        assert self._atoms is not None
        read.stage, read.target = stage, target
        read.deadline = min(time.monotonic() + self.timeout_s, read.cap)
        self._window.convert_selection(read.selection, target, self._atoms.BUREAU_AGENT_SELECTION, X.CurrentTime)

    def _finish(self, read: _Read, result: Content | Exception) -> None:
        if read in self._reads:
            self._reads.remove(read)
        if not read.future.done():
            if isinstance(result, Exception):
                read.future.set_exception(result)
            else:
                read.future.set_result(result)
        if self._window is not None:
            self._window.delete_property(self._atoms.BUREAU_AGENT_SELECTION)  # a late answer must not confuse the next read
        if self._reads:
            self._begin(self._reads[0])

    def _text_target(self, read: _Read) -> int | None:
        assert self._atoms is not None
        a = self._atoms
        offered = set(read.targets)
        for name, atom in (("UTF8_STRING", a.UTF8_STRING), (TEXT_PLAIN, getattr(a, TEXT_PLAIN)), ("STRING", Xatom.STRING), ("TEXT", a.TEXT)):
            if name in read.tried:
                continue
            if name in offered or (not read.targets and name in ("UTF8_STRING", "STRING")):  # no TARGETS: try the two common ones
                read.tried.append(name)
                return atom
        return None

    def _on_notify(self, ev: Any) -> None:
        if not self._reads or ev.requestor.id != self._window.id:
            return
        read = self._reads[0]
        if ev.selection != read.selection or ev.target != read.target or read.stage not in ("targets", "data"):
            return
        assert self._atoms is not None and self._conn is not None
        if read.stage == "targets":
            if ev.property != X.NONE:
                reply = self._window.get_property(self._atoms.BUREAU_AGENT_SELECTION, X.AnyPropertyType, 0, 4096, delete=True)
                if reply is not None and reply.format == 32:
                    read.targets = self._names(list(reply.value))
            self._next_text(read)
            return
        if ev.property == X.NONE:  # the owner refused that target: try the next one
            self._next_text(read)
            return
        reply = self._window.get_property(
            self._atoms.BUREAU_AGENT_SELECTION, X.AnyPropertyType, 0, (self.max_bytes + 3) // 4 + 1, delete=True
        )
        if reply is None:
            self._next_text(read)
        elif reply.property_type == self._atoms.INCR:
            read.stage = "incr"  # our delete above told the owner to send the first chunk
            read.deadline = min(time.monotonic() + self.timeout_s, read.cap)
        elif len(reply.value) > self.max_bytes:
            self._finish(read, self._too_large())
        else:
            self._finish(read, Content(self._decode(bytes(reply.value), reply.property_type), read.targets, read.owner))

    def _next_text(self, read: _Read) -> None:
        target = self._text_target(read)
        if target is None:  # nothing textual on offer (an image, or the owner refused them all)
            self._finish(read, Content(None, read.targets, read.owner))
        else:
            self._convert(read, target, "data")

    def _on_incr_chunk(self, read: _Read) -> None:
        assert self._atoms is not None
        reply = self._window.get_property(
            self._atoms.BUREAU_AGENT_SELECTION, X.AnyPropertyType, 0, (self.max_bytes + 3) // 4 + 1, delete=True
        )
        if reply is None:
            return
        if reply.format != 8:
            self._finish(read, Content(None, read.targets, read.owner))
            return
        if not reply.value:  # the zero-length chunk ends the transfer
            self._finish(read, Content(self._decode(bytes(read.buffer), read.incr_type or reply.property_type), read.targets, read.owner))
            return
        read.incr_type = reply.property_type
        read.buffer += reply.value if isinstance(reply.value, bytes) else bytes(reply.value)
        if len(read.buffer) > self.max_bytes:
            self._finish(read, self._too_large())
            return
        read.deadline = min(time.monotonic() + self.timeout_s, read.cap)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"The selection holds more than clipboard_max_bytes ({self.max_bytes}) bytes.", details={"maxBytes": self.max_bytes}
        )

    def _decode(self, data: bytes, type_: int) -> str:
        assert self._atoms is not None
        if type_ == Xatom.STRING:
            return data.decode("latin-1")
        if type_ == self._atoms.COMPOUND_TEXT:
            return decode_compound_text(data)
        return data.decode("utf-8", "replace")

    # -- events and deadlines --------------------------------------------------------------

    def _handle(self, ev: Any) -> None:
        assert self._atoms is not None
        kind = ev.type
        if kind == X.SelectionRequest:
            self._serve(ev)
        elif kind == X.SelectionNotify:
            self._on_notify(ev)
        elif kind == X.PropertyNotify:
            window = ev.window.id
            if window == self._window.id:
                if ev.atom == self._atoms.BUREAU_AGENT_TIME and ev.state == X.PropertyNewValue:
                    self._take_ownership(ev.time)
                elif ev.atom == self._atoms.BUREAU_AGENT_SELECTION and ev.state == X.PropertyNewValue:
                    if self._reads and self._reads[0].stage == "incr":
                        self._on_incr_chunk(self._reads[0])
            elif ev.state == X.PropertyDelete:
                transfer = self._transfers.get((window, ev.atom))
                if transfer is not None:
                    self._continue_transfer(transfer)
        elif kind == X.SelectionClear:
            owned = self._owned.get(ev.atom)
            if owned is not None and ev.time >= owned.time:
                del self._owned[ev.atom]  # another client owns it now
        elif kind == X.DestroyNotify:
            self._drop_transfers(ev.window.id)

    def _expire(self) -> None:
        now = time.monotonic()
        if self._reads and self._reads[0].deadline and self._reads[0].deadline <= now:
            read = self._reads[0]
            owner = f"0x{read.owner:x}" if read.owner else "the owner"
            self._finish(read, ClipboardTimeout(
                f"The selection's owner ({owner}) did not answer within {self.timeout_s * 1000:.0f} ms.",
                details={"owner": read.owner, "stage": read.stage},
            ))
        for own in [o for o in self._owns if o.deadline <= now]:
            self._owns.remove(own)
            own.future.set_exception(ClipboardTimeout("The X server did not confirm the selection in time."))
        for key, transfer in list(self._transfers.items()):
            if transfer.deadline <= now:
                del self._transfers[key]  # a reader that stopped reading
