"""Outbound TLS as the unit sets it up (SSL_CERT_FILE=/dev/null): OpenSSL parses no CA bundle
when aiohttp makes its contexts at import, and a handshake looks its CA up in the hashed
directory instead, still verifying. Real agent processes (the variable must be set before the
agent imports aiohttp), a real TLS control plane, a CA of the test's own (trustme)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from tests.support.agent import HEARTBEAT_TOKEN
from tests.support.agentproc import AgentProcess
from tests.support.control import FakeControlPlane
from tests.support.wait import wait_until
from tests.support.xvfb import Xvfb


def hashed_directory(path: Path, ca: trustme.CA) -> Path:
    """A CA directory as update-ca-certificates keeps /etc/ssl/certs: PEM files and their
    subject-hash links, which OpenSSL's directory lookup finds a CA by."""
    path.mkdir()
    ca.cert_pem.write_to_path(str(path / "test-ca.pem"))
    subprocess.run(["openssl", "rehash", str(path)], check=True, capture_output=True)
    assert any(p.name.endswith(".0") for p in path.iterdir())
    return path


@pytest.fixture
async def tls_control_plane() -> AsyncIterator[tuple[FakeControlPlane, trustme.CA]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    cp = await FakeControlPlane(ssl_context=context).start()
    yield cp, ca
    await cp.close()


async def start_beating(tmp_path: Path, xvfb: Xvfb, url: str, ca_dir: Path) -> AgentProcess:
    token_file = tmp_path / "heartbeat.token"
    token_file.write_text(HEARTBEAT_TOKEN)
    token_file.chmod(0o600)
    agent = AgentProcess(
        xvfb.name,
        tmp_path / "agent.log",
        settings={"heartbeat_url": url, "heartbeat_token_file": str(token_file), "desktop_id": "desk-tls"},
        env={"SSL_CERT_FILE": "/dev/null", "SSL_CERT_DIR": str(ca_dir)},
    )
    return await asyncio.to_thread(agent.start)


async def test_beats_over_tls_verify_against_the_ca_directory_without_a_bundle(
    tmp_path: Path, xvfb: Xvfb, tls_control_plane: tuple[FakeControlPlane, trustme.CA]
) -> None:
    cp, ca = tls_control_plane
    agent = await start_beating(tmp_path, xvfb, cp.url, hashed_directory(tmp_path / "certs", ca))
    try:
        beat = await cp.wait_for(lambda b: b.get("desktopId") == "desk-tls", timeout=10)
        assert beat["state"] in {"starting", "ready"}
        assert not [line for line in agent.log_lines() if line.get("msg") == "heartbeat failed"]
    finally:
        agent.stop()


async def test_a_control_plane_whose_ca_is_not_in_the_directory_is_refused(
    tmp_path: Path, xvfb: Xvfb, tls_control_plane: tuple[FakeControlPlane, trustme.CA]
) -> None:
    # The same server, and a directory holding another CA: verification still happens (no
    # bundle does not mean no checking), and the beat never reaches the control plane.
    cp, _ = tls_control_plane
    agent = await start_beating(tmp_path, xvfb, cp.url, hashed_directory(tmp_path / "certs", trustme.CA()))
    try:

        def refused() -> bool:
            return any(line.get("msg") == "heartbeat failed" and "certificate" in line.get("error", "").lower() for line in agent.log_lines())

        await wait_until(refused, timeout_s=10, what="a heartbeat refused for its certificate")
        assert cp.beats == []
    finally:
        agent.stop()
