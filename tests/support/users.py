"""A real throwaway account for tests that check what runs as the desktop user (needs root).

`desktop_user` creates it with useradd (a home of its own, a private group) and removes it and
its home afterwards, whatever the test did. Tests that need it skip, visibly, when not root.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import secrets
import subprocess
from collections.abc import Iterator

import pytest


@dataclasses.dataclass(frozen=True)
class TestUser:
    __test__ = False  # a record, not a test class

    name: str
    uid: int
    gid: int
    home: str


def create_user() -> TestUser:
    name = f"bt{secrets.token_hex(4)}"  # short: some tools cut names at 8 characters
    subprocess.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/sh", name], check=True, capture_output=True)
    pw = pwd.getpwnam(name)
    return TestUser(name, pw.pw_uid, pw.pw_gid, pw.pw_dir)


def remove_user(user: TestUser) -> None:
    # Kill anything left running as the user first, or userdel refuses.
    subprocess.run(["pkill", "-KILL", "-U", str(user.uid)], capture_output=True)
    subprocess.run(["userdel", "--remove", user.name], capture_output=True)


@pytest.fixture
def desktop_user() -> Iterator[TestUser]:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates a user with useradd")
    user = create_user()
    try:
        yield user
    finally:
        remove_user(user)
