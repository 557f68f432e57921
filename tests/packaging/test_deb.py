"""packaging/build-deb builds a real .deb (a real venv, once per module); its contents, the
extracted venv and the maintainer scripts are checked. Maintainer scripts run against a scratch
root through DPKG_ROOT, with the real deb-systemd-helper; systemctl, deb-systemd-invoke and
systemd-detect-virt are stubs that record their calls, since no systemd runs here."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bureau_agent import __version__
from bureau_agent.config import load_settings

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("dpkg-deb", "deb-systemd-helper")) or not os.path.exists("/usr/bin/python3"),
    reason="dpkg-deb, init-system-helpers or /usr/bin/python3 missing: run scripts/install-deps --test",
)


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deb")
    result = subprocess.run(
        [str(REPO / "packaging/build-deb"), "--out", str(out), "--compress", "none"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.exists() and path.name.startswith(f"bureau-agent_{__version__}_")
    return path


@pytest.fixture(scope="module")
def extracted(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("extracted")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


@pytest.fixture(scope="module")
def control(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("control")
    subprocess.run(["dpkg-deb", "-e", str(deb), str(path)], check=True)
    return path


def test_contents(deb: Path) -> None:
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    lines = {line.split()[-1] if " -> " not in line else line.split()[-3]: line for line in listing.splitlines()}
    for path in (
        "./lib/systemd/system/bureau-agent.service",
        "./lib/systemd/system/bureau-xvfb.service",
        "./lib/systemd/system/bureau-agent-token.service",
        "./etc/bureau-agent/agent.toml",
        "./opt/bureau-agent/bin/bureau-agent",
        "./opt/bureau-agent/lib/ensure-token",
        "./opt/bureau-agent/pyvenv.cfg",
        "./usr/bin/bureau-agent",
        "./usr/share/doc/bureau-agent/cloud-init.yaml",
    ):
        assert path in lines, path
    assert all(" root/root " in line for line in listing.splitlines())
    assert lines["./opt/bureau-agent/bin/bureau-agent"].startswith("-rwxr-xr-x")
    assert "-> /opt/bureau-agent/bin/bureau-agent" in lines["./usr/bin/bureau-agent"]
    assert not any("/etc/bureau-agent/token" in line for line in listing.splitlines()), "a token must never be packaged"
    assert any("/site-packages/aiohttp/" in p for p in lines) and any("/site-packages/bureau_agent/" in p for p in lines)
    # the client and MCP extras are for callers of the public API, not for the daemon in the VM
    for extra in ("httpx", "mcp", "starlette", "uvicorn"):
        assert not any(f"/site-packages/{extra}/" in p for p in lines), extra
    # only the daemon: no local control plane, client or MCP server on a VM
    for package in ("controlplane", "client", "mcpserver"):
        assert not any(f"/site-packages/bureau_agent/{package}/" in p for p in lines), package
    assert any("/site-packages/bureau_agent/httpkit/" in p for p in lines)  # what the daemon stands on stays
    # every page the units' Documentation= names is shipped
    named = re.findall(r"file:///usr/share/doc/bureau-agent/(\S+)", "".join(p.read_text() for p in (REPO / "systemd").glob("*.service")))
    assert named and all(f"./usr/share/doc/bureau-agent/{page}" in lines for page in named), named


def test_the_packaged_daemon_runs_without_the_tools_it_leaves_out(extracted: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(extracted)}
    venv = extracted / "opt/bureau-agent"
    # cwd: not the checkout, whose bureau_agent `-m` would find first
    result = subprocess.run([str(venv / "bin/python"), "-m", "bureau_agent", "control-plane", "serve"], capture_output=True, text=True, env=env, timeout=60, cwd=extracted)
    assert result.returncode == 2 and "not part of this installation" in result.stderr
    code = "import bureau_agent.app, bureau_agent.doctor, bureau_agent.server"  # the daemon imports whole
    assert subprocess.run([str(venv / "bin/python"), "-c", code], capture_output=True, env=env, timeout=60, cwd=extracted).returncode == 0


def test_control_files(control: Path) -> None:
    assert (control / "conffiles").read_text().split() == ["/etc/bureau-agent/agent.toml"]
    fields = dict(re.findall(r"^(\S+): (.*)$", (control / "control").read_text(), re.M))
    assert fields["Package"] == "bureau-agent" and fields["Version"] == __version__
    # the venv links to this exact interpreter
    pyver = subprocess.run(["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True).stdout.strip()
    assert f"python{pyver}" in fields["Depends"]
    assert "libturbojpeg0 | libturbojpeg" in fields["Depends"]  # Debian's name or Ubuntu's: fast JPEG
    assert "at-spi2-core" in fields["Depends"]  # the accessibility bus for GET /v1/accessibility
    assert "ca-certificates" in fields["Depends"]  # the hashed CA directory the unit verifies TLS with (SSL_CERT_FILE=/dev/null)
    for script in ("postinst", "prerm", "postrm"):
        assert stat.S_IMODE((control / script).stat().st_mode) == 0o755
        subprocess.run(["sh", "-n", str(control / script)], check=True)


def test_the_venv_is_self_contained_and_relocated_to_opt(extracted: Path) -> None:
    venv = extracted / "opt/bureau-agent"
    assert (venv / "bin/bureau-agent").read_text().splitlines()[0] == "#!/opt/bureau-agent/bin/python"
    assert "/opt/bureau-agent" in (venv / "pyvenv.cfg").read_text()
    # The staging directory of the build left no trace in any file.
    leaked = subprocess.run(["grep", "-rlaE", r"/tmp/tmp[^/]*/bureau-agent", str(venv)], capture_output=True, text=True).stdout
    assert leaked == ""
    # Its interpreter runs the agent with its own dependencies, from wherever it sits.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(extracted)}
    result = subprocess.run([str(venv / "bin/python"), "-m", "bureau_agent", "version"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == __version__, result.stderr
    result = subprocess.run(
        [str(venv / "bin/python"), "-c", "import aiohttp, Xlib, mss, PIL, psutil, sys; print(sys.prefix)"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert result.stdout.strip() == str(venv)


def test_the_default_config_is_valid(extracted: Path) -> None:
    settings = load_settings(environ={}, overrides={"config": str(extracted / "etc/bureau-agent/agent.toml")})
    assert settings.sources["listen"].endswith("agent.toml") and settings.heartbeat_url is None


class MaintScripts:
    """Runs the package's maintainer scripts against `root` as dpkg would."""

    def __init__(self, root: Path, control: Path, stubs: Path) -> None:
        self.root, self.control, self.stubs = root, control, stubs
        self.log = stubs / "calls.log"

    def run(self, script: str, *args: str, chroot: bool = False) -> subprocess.CompletedProcess[str]:
        self.log.write_text("")
        env = {
            "PATH": f"{self.stubs}:/usr/sbin:/usr/bin:/sbin:/bin",
            "DPKG_ROOT": str(self.root),
            "DPKG_MAINTSCRIPT_PACKAGE": "bureau-agent",
            "DPKG_MAINTSCRIPT_NAME": script,
            "STUB_LOG": str(self.log),
            "CHROOT_EXIT": "0" if chroot else "1",
        }
        return subprocess.run(["sh", "-e", str(self.control / script), *args], env=env, capture_output=True, text=True, timeout=60)

    def calls(self) -> list[str]:
        return [c for c in self.log.read_text().splitlines() if not c.startswith("systemd-detect-virt")]

    @property
    def token(self) -> Path:
        return self.root / "etc/bureau-agent/token"

    @property
    def enabled_link(self) -> Path:
        return self.root / "etc/systemd/system/multi-user.target.wants/bureau-agent.service"


@pytest.fixture
def maint(extracted: Path, control: Path, tmp_path: Path) -> Iterator[MaintScripts]:
    root = tmp_path / "root"
    (root / "etc/bureau-agent").mkdir(parents=True)
    shutil.copy(extracted / "etc/bureau-agent/agent.toml", root / "etc/bureau-agent/agent.toml")
    shutil.copytree(extracted / "lib", root / "lib", symlinks=True)
    (root / "opt/bureau-agent/lib").mkdir(parents=True)
    shutil.copy(extracted / "opt/bureau-agent/lib/ensure-token", root / "opt/bureau-agent/lib/ensure-token")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("systemctl", "deb-systemd-invoke"):
        (stubs / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "$STUB_LOG"\n')
    (stubs / "systemd-detect-virt").write_text('#!/bin/sh\necho "systemd-detect-virt $*" >> "$STUB_LOG"\nexit "$CHROOT_EXIT"\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    yield MaintScripts(root, control, stubs)


def test_in_a_chroot_postinst_enables_but_neither_starts_nor_bakes_a_token(maint: MaintScripts) -> None:
    (maint.root / "run/systemd/system").mkdir(parents=True)  # even if /run looks alive: a chroot is a chroot
    result = maint.run("postinst", "configure", chroot=True)
    assert result.returncode == 0, result.stderr
    assert maint.calls() == []  # no systemctl, no start
    assert not maint.token.exists()
    assert os.readlink(maint.enabled_link) == "/lib/systemd/system/bureau-agent.service"
    assert "image build" in result.stderr


def test_without_a_running_systemd_postinst_enables_only(maint: MaintScripts) -> None:
    result = maint.run("postinst", "configure")  # no <root>/run/systemd/system: docker build, debootstrap…
    assert result.returncode == 0, result.stderr
    assert maint.calls() == [] and not maint.token.exists() and maint.enabled_link.is_symlink()


def test_on_a_live_system_postinst_creates_a_root_0600_token_and_starts(maint: MaintScripts) -> None:
    (maint.root / "run/systemd/system").mkdir(parents=True)
    dropin = maint.root / "etc/systemd/system/bureau-agent.service.d/10-user.conf"
    dropin.parent.mkdir(parents=True)
    dropin.write_text("[Service]\nEnvironment=BUREAU_AGENT_EXEC_USER=nobody\n")  # the desktop user is not the owner
    result = maint.run("postinst", "configure")
    assert result.returncode == 0, result.stderr
    info = maint.token.stat()
    token = maint.token.read_text()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert (info.st_uid, info.st_gid) == (0, 0)  # the agent's user (root), never the desktop user
    assert token not in result.stdout + result.stderr
    assert maint.calls() == ["systemctl --system daemon-reload", "deb-systemd-invoke start bureau-agent.service"]
    assert maint.enabled_link.is_symlink()

    # An upgrade keeps the token and restarts.
    result = maint.run("postinst", "configure", "0.0.1")
    assert result.returncode == 0 and maint.token.read_text() == token
    assert maint.calls()[-1] == "deb-systemd-invoke restart bureau-agent.service"

    # Removal stops and disables; purge forgets the token.
    assert maint.run("prerm", "remove").returncode == 0
    assert maint.calls() == ["deb-systemd-invoke stop bureau-agent.service bureau-xvfb.service"]
    assert maint.run("postrm", "remove").returncode == 0
    assert maint.token.exists()  # remove keeps configuration, like every Debian package
    assert maint.run("postrm", "purge").returncode == 0
    assert not maint.token.exists() and not maint.enabled_link.exists()


def test_an_existing_token_is_kept(maint: MaintScripts) -> None:
    (maint.root / "run/systemd/system").mkdir(parents=True)
    maint.token.write_text("provisioned-by-cloud-init-0123456789")
    maint.token.chmod(0o600)
    assert maint.run("postinst", "configure").returncode == 0
    assert maint.token.read_text() == "provisioned-by-cloud-init-0123456789"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the token is given back to root")
def test_a_token_an_earlier_package_gave_the_desktop_user_is_given_back_to_root(maint: MaintScripts) -> None:
    nobody = int(subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True).stdout)
    maint.token.write_text("provisioned-for-the-desktop-user-0123")
    os.chown(maint.token, nobody, nobody)
    maint.token.chmod(0o644)
    env = {"PATH": "/usr/bin:/bin", "DPKG_ROOT": str(maint.root)}
    result = subprocess.run([str(maint.root / "opt/bureau-agent/lib/ensure-token")], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    info = maint.token.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 0, 0o600)
    assert maint.token.read_text() == "provisioned-for-the-desktop-user-0123"  # kept, only its owner and mode change
