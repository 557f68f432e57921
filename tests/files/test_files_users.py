"""/v1/files as root with exec_user set to a real throwaway user: the user's rights, never root's.

Also the full disk: a small tmpfs mounted by the test, filled by an upload (507, nothing left).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from aiohttp.test_utils import TestClient

from tests.support.agent import AUTH
from tests.support.users import TestUser

MiB = 1024 * 1024


@pytest.fixture
def shared(tmp_path: Path, desktop_user: TestUser) -> Path:  # noqa: F811
    """A directory both root and the test user can enter; pytest's tmp_path is root-only."""
    os.chmod(tmp_path, 0o755)
    for parent in tmp_path.parents:
        if parent == Path("/tmp"):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o011)
    return tmp_path


@pytest.fixture
async def as_user(make_agent: Callable[..., Any], desktop_user: TestUser) -> TestClient:  # noqa: F811
    return await make_agent(None, exec_user=desktop_user.name, files_umask="027")


async def status_of(client: TestClient, path: Path | str) -> tuple[int, Any]:
    resp = await client.get("/v1/files", params={"path": str(path)}, headers=AUTH)
    body = await resp.read()
    return resp.status, body


def code(body: bytes) -> str:
    return json.loads(body)["error"]["code"]


async def test_root_only_file_is_403_user_file_works(as_user: TestClient, shared: Path, desktop_user: TestUser) -> None:  # noqa: F811
    secret = shared / "root-only"
    secret.write_bytes(b"secret")
    secret.chmod(0o600)
    status, body = await status_of(as_user, secret)
    assert status == 403 and code(body) == "permission_denied"

    mine = Path(desktop_user.home) / "mine.txt"
    mine.write_bytes(b"hello")
    os.chown(mine, desktop_user.uid, desktop_user.gid)
    mine.chmod(0o600)
    status, body = await status_of(as_user, "mine.txt")  # relative: the user's home
    assert status == 200 and body == b"hello"


async def test_upload_is_owned_by_the_user_with_the_umask(as_user: TestClient, desktop_user: TestUser) -> None:  # noqa: F811
    resp = await as_user.put("/v1/files", params={"path": "sub/dir/new.bin", "parents": "true"}, data=b"data", headers=AUTH)
    assert resp.status == 201, await resp.text()
    created = Path(desktop_user.home) / "sub" / "dir" / "new.bin"
    st = created.stat()
    assert (st.st_uid, st.st_gid) == (desktop_user.uid, desktop_user.gid)
    assert stat.S_IMODE(st.st_mode) == 0o640  # 0666 under files_umask 027
    parent = created.parent.stat()
    assert parent.st_uid == desktop_user.uid and stat.S_IMODE(parent.st_mode) == 0o750


async def test_symlink_to_a_root_only_file_is_403(as_user: TestClient, shared: Path, desktop_user: TestUser) -> None:  # noqa: F811
    secret = shared / "root-only"
    secret.write_bytes(b"secret")
    secret.chmod(0o600)
    link = Path(desktop_user.home) / "innocent.txt"
    link.symlink_to(secret)
    status, body = await status_of(as_user, link)
    assert status == 403 and code(body) == "permission_denied"


async def test_the_agents_token_file_is_unreachable(make_agent: Callable[..., Any], shared: Path, desktop_user: TestUser) -> None:  # noqa: F811
    token_file = shared / "token"
    token_file.write_text("test-token-0123456789abcdef\n")
    token_file.chmod(0o600)
    client = await make_agent(None, token_file=str(token_file), exec_user=desktop_user.name)
    status, body = await status_of(client, token_file)
    assert status == 403 and b"test-token" not in body
    resp = await client.put("/v1/files", params={"path": str(token_file)}, data=b"overwritten", headers=AUTH)
    assert resp.status == 403 and token_file.read_text() == "test-token-0123456789abcdef\n"
    resp = await client.delete("/v1/files", params={"path": str(token_file)}, headers=AUTH)
    assert resp.status == 403 and token_file.exists()
    resp = await client.post("/v1/files/move", json={"from": str(token_file), "to": f"{desktop_user.home}/t"}, headers=AUTH)
    assert resp.status == 403 and token_file.exists()


async def test_writing_where_the_user_may_not_is_403_and_leaves_nothing(as_user: TestClient, shared: Path) -> None:
    resp = await as_user.put("/v1/files", params={"path": str(shared / "x")}, data=b"x", headers=AUTH)
    assert resp.status == 403 and os.listdir(shared) == []
    resp = await as_user.post("/v1/files/mkdir", json={"path": str(shared / "d")}, headers=AUTH)
    assert resp.status == 403 and os.listdir(shared) == []


async def test_dotdot_that_the_user_can_follow(as_user: TestClient, desktop_user: TestUser) -> None:  # noqa: F811
    home = Path(desktop_user.home)
    (home / "a").mkdir()
    os.chown(home / "a", desktop_user.uid, desktop_user.gid)
    resp = await as_user.put("/v1/files", params={"path": "a/../b.txt"}, data=b"b", headers=AUTH)
    assert resp.status == 201 and (home / "b.txt").read_bytes() == b"b"


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root: mounts a tmpfs")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:  # root without CAP_SYS_ADMIN (some containers): say so, visibly
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_full_disk_is_507_and_leaves_nothing(make_agent: Callable[..., Any], small_tmpfs: Path) -> None:
    client = await make_agent(None)
    free_before = os.statvfs(small_tmpfs).f_bfree
    resp = await client.put("/v1/files", params={"path": str(small_tmpfs / "big.bin")}, data=os.urandom(6 * MiB), headers=AUTH)
    body = await resp.json()
    assert resp.status == 507 and body["error"]["code"] == "insufficient_storage"
    assert os.listdir(small_tmpfs) == []
    assert os.statvfs(small_tmpfs).f_bfree == free_before
    resp = await client.put("/v1/files", params={"path": str(small_tmpfs / "fits.bin")}, data=os.urandom(MiB), headers=AUTH)
    assert resp.status == 201  # the space came back
