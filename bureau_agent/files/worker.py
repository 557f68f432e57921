"""The files helper: a small program that runs AS the desktop user and does one file operation.

The agent never touches a path of a /v1/files call with its own rights. It starts this program
with the desktop user's uid, gid, supplementary groups and umask (the way exec starts a command),
as `python -I -S -c <this source>`, so the user needs to read nothing of the agent's to run it,
and the only channel is one end of an AF_UNIX SOCK_SEQPACKET pair (its descriptor number is argv[1]): one JSON message a
request, one (or, for a listing, several) a reply. Whatever this process opens, it opens with the
kernel checking the user's rights and following symlinks as the user would; a file to stream is
handed back to the agent as an open descriptor (SCM_RIGHTS), so the bytes move with sendfile and
never through here. Files the user cannot read (the agent's token, its state) fail at open() with
EACCES: nothing here knows their names.

Standard library only, no imports from bureau_agent: it runs with -S and without the package on
its path. Replies: {"ok": true, ...} or {"ok": false, "errno": n, "strerror": s, "which": field}.
"""

import _socket
import errno
import marshal
import os
import stat
import sys

# Only built-in modules at the top: each operation starts this program afresh, and `socket`,
# `json` and `secrets` (enum, re, random, hashlib) would triple its ~10 ms start. Requests come
# from the agent as marshal data (a trusted direction); replies go out as JSON, which the agent
# parses safely, written by jdump below. shutil and heapq are imported where they are used.

MAX_REQUEST = 1 << 16
CHUNK_BYTES = 32 * 1024  # a listing goes out in messages of about this size (SEQPACKET: one send each)
RENAME_NOREPLACE = 1


class Fail(Exception):
    def __init__(self, err: int, which: str, message: str = "") -> None:
        super().__init__(message or os.strerror(err))
        self.errno, self.which, self.message = err, which, message or os.strerror(err)


def _jstr(text):
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    out = []
    for ch in text:
        code = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF:  # control, lone surrogate (surrogateescape)
            out.append("\\u%04x" % code)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def jdump(value):
    """JSON text of None, bool, int, str, list and dict (str keys): all a reply holds."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _jstr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(jdump(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_jstr(k) + ":" + jdump(v) for k, v in value.items()) + "}"
    raise TypeError(type(value).__name__)


def send(sock, obj, fds=()):
    data = jdump(obj).encode("utf-8")
    if fds:
        rights = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
        sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
    else:
        sock.send(data)


def receive(sock):
    data = sock.recv(MAX_REQUEST)
    return marshal.loads(data) if data else None  # b"": the agent closed its end (abort)


def entry(dir_fd, name):
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:  # gone since the listing was read, or not searchable: name only
        return {"name": name, "type": "other", "size": None, "mtimeNs": None, "mode": None}
    if stat.S_ISLNK(st.st_mode):
        kind = "symlink"
    elif stat.S_ISDIR(st.st_mode):
        kind = "dir"
    elif stat.S_ISREG(st.st_mode):
        kind = "file"
    else:
        kind = "other"
    item = {"name": name, "type": kind, "size": st.st_size, "mtimeNs": st.st_mtime_ns, "mode": stat.S_IMODE(st.st_mode)}
    if kind == "symlink":
        try:
            item["target"] = os.readlink(name, dir_fd=dir_fd)[:4096]
        except OSError:
            pass
    return item


def listing(sock, path, max_entries):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        with os.scandir(fd) as it:
            names = (e.name for e in it)
            # The first max_entries + 1 by byte order, holding only that many however big the directory.
            import heapq

            first = heapq.nsmallest(max_entries + 1, names, key=os.fsencode)
        truncated = len(first) > max_entries
        send(sock, {"ok": True, "kind": "dir", "mtimeNs": st.st_mtime_ns, "truncated": truncated})
        batch, size = [], 0
        for name in first[:max_entries]:
            item = entry(fd, name)
            batch.append(item)
            size += len(name) * 6 + len(item.get("target", "")) * 6 + 100
            if size >= CHUNK_BYTES:
                send(sock, {"entries": batch})
                batch, size = [], 0
        send(sock, {"entries": batch, "end": True})
    finally:
        os.close(fd)


def op_open(sock, req):
    """A regular file → its descriptor; a directory → its listing; anything else → refused."""
    path = req["path"]
    st = os.stat(path)  # follows symlinks as the user; EACCES/ENOENT/ELOOP from here
    if stat.S_ISDIR(st.st_mode):
        if req.get("list", True):
            return listing(sock, path, int(req["maxEntries"]))
        return send(sock, {"ok": True, "kind": "dir", "mtimeNs": st.st_mtime_ns, "truncated": False})
    if not stat.S_ISREG(st.st_mode):
        raise Fail(errno.EINVAL, "path", "not a regular file or a directory")
    # O_NONBLOCK: should the path turn into a FIFO meanwhile, open() must not wait for a writer.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Fail(errno.EINVAL, "path", "not a regular file or a directory")
        send(sock, {"ok": True, "kind": "file", "size": st.st_size, "mtimeNs": st.st_mtime_ns, "ino": st.st_ino}, [fd])
    finally:
        os.close(fd)


def _temp_name(directory, base):
    return os.path.join(directory, f".{base[:200]}.{os.urandom(4).hex()}.upload")


def op_create(sock, req):
    """A temporary file in the target's directory for the agent to fill, then renamed into place."""
    path, overwrite = req["path"], bool(req.get("overwrite", True))
    directory, base = os.path.split(path)
    directory = directory or "/"
    if base in ("", ".", ".."):
        raise Fail(errno.EISDIR, "path")
    if req.get("parents"):
        try:
            os.makedirs(directory, exist_ok=True)
        except FileExistsError:  # a component is a file
            raise Fail(errno.ENOTDIR, "path") from None
    mode = None
    try:
        old = os.lstat(path)
    except FileNotFoundError:
        old = None
    if old is not None:
        if stat.S_ISDIR(old.st_mode):
            raise Fail(errno.EISDIR, "path")
        if not overwrite:
            raise Fail(errno.EEXIST, "path")
        if stat.S_ISREG(old.st_mode):
            mode = stat.S_IMODE(old.st_mode) & 0o777  # a replaced file keeps its mode, as with cp
    # A named temporary file, not O_TMPFILE: linking an unnamed file needs /proc or
    # CAP_DAC_READ_SEARCH, which some kernels and sandboxes refuse (EXDEV, ENOENT).
    named = _temp_name(directory, base)
    fd = os.open(named, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)  # read: the agent hashes it back
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        send(sock, {"ok": True, "existed": old is not None}, [fd])
        req = receive(sock)
        if not req or req.get("op") != "commit":
            return
        existed = os.path.lexists(path)
        if overwrite:
            os.rename(named, path)
            named = None
        else:
            os.link(named, path, follow_symlinks=False)  # EEXIST: someone created it meanwhile
        _sync_dir(directory)
        send(sock, {"ok": True, "created": not existed})
    finally:
        os.close(fd)
        if named is not None:
            try:
                os.unlink(named)
            except OSError:
                pass


def _sync_dir(directory):
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def op_delete(sock, req):
    path = req["path"]
    st = os.lstat(path)  # a symlink is removed, never what it points to
    if stat.S_ISDIR(st.st_mode):
        try:
            os.rmdir(path)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not req.get("recursive"):
                raise
            import shutil

            shutil.rmtree(path)
    else:
        os.unlink(path)
    send(sock, {"ok": True})


def op_mkdir(sock, req):
    path = req["path"]
    if req.get("parents"):
        existed = os.path.isdir(path)
        try:
            os.makedirs(path, exist_ok=True)
        except FileExistsError:  # it, or a component, is not a directory
            raise Fail(errno.ENOTDIR if not os.path.lexists(path) else errno.EEXIST, "path") from None
        return send(sock, {"ok": True, "created": not existed})
    os.mkdir(path)
    send(sock, {"ok": True, "created": True})


def _rename_noreplace(source, target):
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        at_fdcwd = -100
        if renameat2(at_fdcwd, os.fsencode(source), at_fdcwd, os.fsencode(target), RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(err, os.strerror(err), source)
    if os.path.lexists(target):  # the filesystem cannot refuse for us: check, then rename
        raise Fail(errno.EEXIST, "to")
    os.rename(source, target)


def _copy_across(source, target, overwrite):
    """EXDEV: copy next to the target, rename it into place, then remove the source."""
    import shutil

    directory, base = os.path.split(target)
    temp = _temp_name(directory or "/", base)
    try:
        if os.path.isdir(source) and not os.path.islink(source):
            shutil.copytree(source, temp, symlinks=True)
        else:
            shutil.copy2(source, temp, follow_symlinks=False)
        if overwrite:
            os.rename(temp, target)
        else:
            _rename_noreplace(temp, target)
    except BaseException:
        if os.path.isdir(temp) and not os.path.islink(temp):
            shutil.rmtree(temp, ignore_errors=True)
        elif os.path.lexists(temp):
            os.unlink(temp)
        raise
    if os.path.isdir(source) and not os.path.islink(source):
        shutil.rmtree(source)
    else:
        os.unlink(source)


def op_move(sock, req):
    source, target, overwrite = req["from"], req["to"], bool(req.get("overwrite", False))
    os.lstat(source)  # a missing source is named as such, not as a target problem
    try:
        if overwrite:
            os.rename(source, target)
        else:
            _rename_noreplace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        _copy_across(source, target, overwrite)
    send(sock, {"ok": True})


OPS = {"open": op_open, "create": op_create, "delete": op_delete, "mkdir": op_mkdir, "move": op_move}


def main():
    sock = _socket.socket(fileno=int(sys.argv[1]))
    req = receive(sock)
    if req is None:
        return
    try:
        OPS[req["op"]](sock, req)
    except Fail as exc:
        send(sock, {"ok": False, "errno": exc.errno, "strerror": exc.message, "which": exc.which})
    except OSError as exc:
        which = "path"
        if req["op"] == "move":
            which = "from" if exc.filename == req.get("from") else "to"
        send(sock, {"ok": False, "errno": exc.errno or 0, "strerror": exc.strerror or str(exc), "which": which})
    except Exception as exc:  # a bug here: say what, the agent answers 500
        send(sock, {"ok": False, "errno": 0, "strerror": f"{type(exc).__name__}: {exc}", "which": "path"})


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, ConnectionResetError):
        sys.exit(1)
