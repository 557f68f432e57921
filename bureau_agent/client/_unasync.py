"""Writes _sync_client.py, _sync_desktop.py and _sync_files.py from their _async_ twins: the sync
client is the async one with its awaits taken out (the technique httpcore uses, there with the `unasync` tool). Run
`python -m bureau_agent.client._unasync` after changing one of them; a test checks that the
committed files are what this produces."""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
# the one implementation, and the files generated from it
PAIRS = [(HERE / f"_async_{name}.py", HERE / f"_sync_{name}.py") for name in ("client", "desktop", "files")]

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
    (r"_async_client", "_sync_client"),
    (r"_async_desktop", "_sync_desktop"),
    (r"_async_files", "_sync_files"),
    (r"asynchronous", "synchronous"),
]

def generate(text: str, source: str = "_async_client.py") -> str:
    # the source's own docstring is replaced by the header
    text = re.sub(r'\A""".*?"""\n', "", text, count=1, flags=re.S)
    header = f'"""GENERATED from {source} by _unasync.py: do not edit (the sync client, same methods)."""\n'
    for pattern, replacement in REPLACEMENTS:
        text = re.sub(r"\b" + pattern if pattern[0].isalpha() or pattern[0] == "_" else pattern, replacement, text)
    return header + text


def main() -> int:
    for source, target in PAIRS:
        target.write_text(generate(source.read_text(encoding="utf-8"), source.name), encoding="utf-8")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
