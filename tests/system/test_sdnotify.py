"""sd_notify datagrams, read from a real AF_UNIX socket standing in for systemd's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bureau_agent.system.sdnotify import Notifier, socket_address, watchdog_interval_s
from tests.support.control import NotifySocket


@pytest.fixture(params=[False, True], ids=["path", "abstract"])
def notify_socket(request: pytest.FixtureRequest, tmp_path: Path):
    sock = NotifySocket(str(tmp_path), abstract=request.param)
    yield sock
    sock.close()


async def test_ready_status_watchdog_and_stopping_arrive_as_datagrams(notify_socket: NotifySocket) -> None:
    notifier = Notifier(notify_socket.address)
    assert notifier.enabled
    assert notifier.ready("listening on 127.0.0.1:7700")
    assert notifier.status("agentReady=false")
    assert notifier.watchdog()
    assert notifier.stopping()
    notifier.close()
    messages = notify_socket.receive_now()
    assert messages == [
        "READY=1\nSTATUS=listening on 127.0.0.1:7700",
        "STATUS=agentReady=false",
        "WATCHDOG=1",
        "STOPPING=1",
    ]


async def test_a_newline_in_a_status_cannot_inject_another_field(notify_socket: NotifySocket) -> None:
    notifier = Notifier(notify_socket.address)
    notifier.status("display :0 lost\nREADY=1")
    notifier.close()
    assert notify_socket.receive_now() == ["STATUS=display :0 lost READY=1"]


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier(None)
    assert not notifier.enabled
    assert notifier.ready() is False and notifier.watchdog() is False


def test_a_socket_nobody_listens_on_is_not_an_error(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "missing"))
    assert notifier.enabled
    assert notifier.ready() is False  # logged, not raised
    notifier.close()


def test_address_forms() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@abstract/name") == "\0abstract/name"
    assert socket_address("@") is None
    assert socket_address("relative") is None


def test_from_environ_removes_the_supervision_variables_from_children() -> None:
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1", "PATH": "/bin"}
    notifier = Notifier.from_environ(env)
    assert notifier.address == "\0x"
    assert env == {"PATH": "/bin"}
    kept = {"NOTIFY_SOCKET": "/run/n"}
    Notifier.from_environ(kept, unset=False)
    assert kept == {"NOTIFY_SOCKET": "/run/n"}


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process_only() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval_s({}) is None
