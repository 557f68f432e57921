"""The machine description and the markdown tables."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from typing import Any

from bench.measure import Row, Side


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def machine(xserver: str) -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            match = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            cpu = match.group(1).strip() if match else cpu
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            match = re.search(r"^MemTotal:\s*(\d+) kB", f.read(), re.M)
            mem_gib = round(int(match.group(1)) / 1024 / 1024, 1) if match else None
    except OSError:
        pass
    package = _first_line(["dpkg-query", "-W", "-f=${Version}", "xvfb"])
    import PIL

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": mem_gib,
        "kernel": platform.release(),
        "xvfb": xserver if package in ("", "unknown", "not installed") else f"{xserver} (package {package})",
        "python": sys.version.split()[0],
        "pillow": PIL.__version__,
        "xdotool": _first_line(["dpkg-query", "-W", "-f=${Version}", "xdotool"]),  # `xdotool version` needs a display
        "scrot": _first_line(["scrot", "--version"]),
        "imagemagick": _first_line(["import", "-version"]),
        "agent_commit": _first_line(["git", "rev-parse", "--short", "HEAD"]),
    }


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(side: Side | None, what: str) -> str:
    if side is None:
        return "—"
    if side.stat is None:
        return (side.unavailable or "n/a") if what == "median" else "—"
    text = fmt(side.stat.median if what == "median" else side.stat.p95)
    if what == "median" and side.correct is not None:
        text += " ✓ correct" if side.correct else " ✗ WRONG TEXT"
    return text


def _ratio(row: Row) -> str:
    ratio = row.ratio
    return "—" if ratio is None else f"{ratio:.1f}×" if ratio >= 1 else f"{ratio:.2f}×"


def _notes(row: Row) -> str:
    parts = [f"agent: {row.agent.note}" if row.agent.note else "", f"baseline: {row.baseline.note}" if row.baseline and row.baseline.note else ""]
    return "; ".join(p for p in parts if p).replace("|", "\\|").replace("\n", "\\n")  # keep the table intact


def ordered(rows: list[Row]) -> list[Row]:
    """Display order: the latency table, the encoding table, then load and resources."""
    first = ("latency", "encoding")
    return [r for s in first for r in rows if r.section == s] + [r for r in rows if r.section not in first]


def _bytes(side: Side | None) -> str:
    return "—" if side is None or side.bytes is None else str(side.bytes)


def markdown_tables(rows: list[Row]) -> str:
    out = [
        "Latency in milliseconds; the agent through one keep-alive HTTP connection. "
        "Ratio = baseline median / agent median (above 1: the agent is faster).",
        "",
        "| action | agent median | agent p95 | baseline | baseline median | baseline p95 | ratio | target | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.section != "latency":
            continue
        base = row.baseline
        out.append(
            f"| {row.name} | {_cell(row.agent, 'median')} | {_cell(row.agent, 'p95')} | {base.label if base else '—'} "
            f"| {_cell(base, 'median')} | {_cell(base, 'p95')} | {_ratio(row)} | {row.target or ''} | {_notes(row)} |"
        )
    encoding = [row for row in rows if row.section == "encoding"]
    if encoding:
        out += [
            "",
            "Encoding in the benchmark process, of one frame grabbed from the scene (no HTTP, no "
            "capture), in milliseconds; bytes of one output.",
            "",
            "| encoding, in process | agent median | agent p95 | agent bytes | baseline | baseline median | baseline p95 | baseline bytes | ratio |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
    for row in encoding:
        base = row.baseline
        out.append(
            f"| {row.name} | {_cell(row.agent, 'median')} | {_cell(row.agent, 'p95')} | {_bytes(row.agent)} "
            f"| {base.label if base else '—'} | {_cell(base, 'median')} | {_cell(base, 'p95')} | {_bytes(base)} | {_ratio(row)} |"
        )
    out += [
        "",
        "| under load and resources | unit | agent median | agent p95 | baseline | baseline median | ratio | how |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.section in ("latency", "encoding"):
            continue
        base = row.baseline
        single = row.agent.stat is not None and len(row.agent.stat.samples) == 1
        how = "; ".join(x for x in (row.agent.label, row.agent.note, f"baseline: {base.note}" if base and base.note else "") if x)
        out.append(
            f"| {row.name} | {row.unit} | {_cell(row.agent, 'median')} | {'—' if single else _cell(row.agent, 'p95')} "
            f"| {base.label if base else '—'} | {_cell(base, 'median')} | {_ratio(row)} | {how} |"
        )
    return "\n".join(out)


def markdown_machine(info: dict[str, Any]) -> str:
    return "\n".join(
        [
            "| machine | |",
            "|---|---|",
            f"| CPUs (nproc) | {info['nproc']} |",
            f"| CPU model | {info['cpu']} |",
            f"| memory | {info['memory_gib']} GiB |",
            f"| kernel | {info['kernel']} |",
            f"| Xvfb | {info['xvfb']} |",
            f"| Python | {info['python']} (Pillow {info['pillow']}) |",
            f"| xdotool / scrot / ImageMagick | {info['xdotool']} / {info['scrot']} / {info['imagemagick']} |",
            f"| agent commit | {info['agent_commit']} |",
        ]
    )
