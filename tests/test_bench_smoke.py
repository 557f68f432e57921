"""The benchmark's smoke mode, run as a user runs it: checks the harness, never the timings.

It starts its own Xvfb, scene, agent and baselines; a route the agent does not implement yet
must show as "n/a (HTTP …)", every baseline and resource row must carry numbers, and the
markdown tables must have one well-formed line per row.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scene import missing_tools

ROOT = Path(__file__).resolve().parent.parent
NA = re.compile(r"^n/a \(.+\)$")
EXPECTED_ROWS = {
    "click", "move", "key combination ctrl+a", "drag (durationMs 0)", "scroll 3 clicks",
    "screenshot PNG 1920×1080, screen changed before each", "screenshot PNG, vs ImageMagick",
    "screenshot PNG, vs Pillow default", "screenshot JPEG q80, screen changed before each",
    "screenshot PNG, screen unchanged (no If-None-Match)", "screenshot, screen unchanged (304)", "exec true", "bash script (loop, pipe, stderr)",
    "process start → ready", "click while 4 clients loop PNG screenshots of a changing screen", "clicks per second, 8 concurrent clients",
    "idle RSS", "idle CPU",
    "upload 4 MiB, agent", "download 4 MiB, agent", "download 4 MiB, agent vs an HTTP file server",
    "download 4 MiB to /dev/null, agent vs an HTTP file server",
    "agent RSS growth during a 4 MiB upload", "upload 4 MiB, control plane", "download 4 MiB, control plane",
    "click via Bureau (sync client)", "click via AsyncBureau", "click via MCP tool call (stdio)",
    "screenshot PNG 1280×800 (screen unchanged) via Bureau (sync client)", "screenshot PNG 1280×800 (screen unchanged) via AsyncBureau",
    "screenshot PNG 1280×800 (screen unchanged) via MCP tool call (stdio)",
    "mss grab 1920×1080 (XCB, MIT-SHM)", "PNG encode", "PNG encode, maxWidth=1280 (bicubic)", "JPEG q80 encode", "WebP q80 encode (method 0)",
    # issue 14: the click's floor and the overhead over it, RSS at start, the simulated fleet
    "floor: HTTP round trip", "floor: raw XTest click", "floor: raw XTest click + round trip",
    "click: overhead over the floor", "key ctrl+a: overhead over the floor", "RSS at start",
    "fleet beats/s, steady state", "fleet beats/s, the minute after a 5 min outage",
}  # fmt: skip
ENCODED = {"PNG encode", "PNG encode, maxWidth=1280 (bicubic)", "JPEG q80 encode", "WebP q80 encode (method 0)"}
CELLS = {"latency": 9, "encoding": 9}  # the load and resources table has 8

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason=f"missing {missing_tools()}: scripts/install-deps --test")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--markdown", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8")), proc.stdout


def has_numbers(side: dict, signed: bool = False) -> bool:
    values = (side["median"], side["p95"])
    return (side["n"] >= 1 and all(isinstance(v, float) and math.isfinite(v) and (signed or v >= 0) for v in values)
            and side["p95"] >= side["median"])  # fmt: skip


def test_every_row_is_present(smoke: tuple[dict, str]) -> None:
    data, _ = smoke
    names = {row["name"] for row in data["rows"]}
    assert EXPECTED_ROWS <= names
    typing = sorted(n for n in names if n.startswith("type "))
    assert typing[:2] == ["type 12 ASCII chars", "type 12 Unicode chars, 10 distinct not in the layout (stress)"]
    assert typing[2:] == ["type 12 mixed Unicode chars"]
    assert {n.split(" (")[0] for n in names if n.startswith("accessibility tree")} == {
        "accessibility tree, Chromium page", "accessibility tree, same page, interactive=true format=text", "accessibility tree, GTK 3 test window",
    }  # fmt: skip
    assert data["mode"] == "smoke"
    assert data["machine"]["nproc"] >= 1 and "X Server" in data["machine"]["xvfb"]


def test_agent_sides_have_numbers_or_say_why_not(smoke: tuple[dict, str]) -> None:
    # Only a difference of medians measured apart may be negative (few samples, noise).
    signed = {row["name"] for row in smoke[0]["rows"] if row["agent"]["signed"]}
    assert signed == {"click: overhead over the floor", "key ctrl+a: overhead over the floor"}
    for row in smoke[0]["rows"]:
        agent = row["agent"]
        if agent["unavailable"] is None:
            assert has_numbers(agent, signed=agent["signed"]), row
        else:
            assert NA.match(agent["unavailable"]) and agent["median"] is None and row["ratio"] is None, row


def test_baselines_and_resources_always_have_numbers(smoke: tuple[dict, str]) -> None:
    for row in smoke[0]["rows"]:
        if row["baseline"] is not None:
            assert has_numbers(row["baseline"]) and row["baseline"]["unavailable"] is None, row
        if row["section"] == "resources":
            assert has_numbers(row["agent"]), row
        if row["agent"]["unavailable"] is None and row["baseline"] is not None:
            assert isinstance(row["ratio"], float) and row["ratio"] > 0, row


def test_encoding_rows_say_how_many_bytes_each_output_is(smoke: tuple[dict, str]) -> None:
    rows = {row["name"]: row for row in smoke[0]["rows"] if row["section"] == "encoding"}
    assert set(rows) >= ENCODED
    for name in ENCODED:
        row = rows[name]
        assert has_numbers(row["agent"]) and row["agent"]["bytes"] > 0, row
        assert row["baseline"] is None or row["baseline"]["bytes"] > 0, row
    assert all(rows[name]["baseline"] is not None for name in ("PNG encode", "JPEG q80 encode", "WebP q80 encode (method 0)"))


def test_typing_rows_report_correctness(smoke: tuple[dict, str]) -> None:
    typing = [row for row in smoke[0]["rows"] if row["name"].startswith("type ")]
    for row in typing:
        assert isinstance(row["baseline"]["correct"], bool), row
        if row["agent"]["unavailable"] is None:
            assert isinstance(row["agent"]["correct"], bool), row


def test_markdown_has_one_well_formed_line_per_row(smoke: tuple[dict, str]) -> None:
    data, stdout = smoke
    lines = [line for line in stdout.splitlines() if line.startswith("| ")]
    table_rows = [line for line in lines if not line.startswith(("| action ", "| encoding, in process ", "| under load", "| machine", "|---"))]
    machine_rows = [line for line in table_rows if line.split("|")[1].strip() in {
        "CPUs (nproc)", "CPU model", "memory", "kernel", "Xvfb", "Python", "xdotool / scrot / ImageMagick", "agent commit"}]  # fmt: skip
    bench_rows = [line for line in table_rows if line not in machine_rows]
    assert len(machine_rows) == 8
    assert len(bench_rows) == len(data["rows"])
    for line, row in zip(bench_rows, data["rows"]):
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]  # "\|" is a pipe inside a cell
        assert len(cells) == CELLS.get(row["section"], 8) and cells[0] == row["name"], line
        median = cells[1] if row["section"] in CELLS else cells[2]
        sign = "-?" if row["agent"]["signed"] else ""
        assert re.match(rf"^{sign}\d+(\.\d+)?( ✓ correct| ✗ WRONG TEXT)?$", median) or NA.match(median), line
