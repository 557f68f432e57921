"""Writes _sync_client.py from _async_client.py: the sync client is the async one with its
awaits taken out (the technique httpcore uses, there with the `unasync` tool). Run
`python -m bureau_agent.client._unasync` after changing _async_client.py; a test checks that
the committed file is what this produces."""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
SOURCE = HERE / "_async_client.py"
TARGET = HERE / "_sync_client.py"

# Whole words only, in this order.
REPLACEMENTS = [
    (r"async def ", "def "),
    (r"async for ", "for "),
    (r"async with ", "with "),
    (r"await ", ""),
    (r"AsyncBureau", "Bureau"),
    (r"AsyncDesktop", "Desktop"),
    (r"AsyncClipboard", "Clipboard"),
    (r"AsyncFiles", "Files"),
    (r"AsyncIterator", "Iterator"),
    (r"__aenter__", "__enter__"),
    (r"__aexit__", "__exit__"),
    (r"aclose", "close"),
    (r"aread", "read"),
    (r"aiter_bytes", "iter_bytes"),
    (r"_async_io", "_sync_io"),
    (r"_async_transport", "_sync_transport"),
    (r"asynchronous", "synchronous"),
]

HEADER = '"""GENERATED from _async_client.py by _unasync.py: do not edit (the sync client, same methods)."""\n'


def generate(text: str) -> str:
    # the source's own docstring is replaced by the header
    text = re.sub(r'\A""".*?"""\n', "", text, count=1, flags=re.S)
    for pattern, replacement in REPLACEMENTS:
        text = re.sub(r"\b" + pattern if pattern[0].isalpha() or pattern[0] == "_" else pattern, replacement, text)
    return HEADER + text


def main() -> int:
    TARGET.write_text(generate(SOURCE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
