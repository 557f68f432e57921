"""`bureau-agent mcp [--http [HOST:]PORT] [--api-url URL]`: imported only when that command runs
(bureau_agent/cli.py DELEGATED), so the daemon never loads the client or the MCP SDK."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from collections.abc import Sequence

EXIT_USAGE = 2


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", value
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--http {value!r}: expected [HOST:]PORT")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bureau-agent mcp",
        description="A Model Context Protocol server over the public API; the key comes from BUREAU_API_KEY.",
    )
    parser.add_argument("--http", metavar="[HOST:]PORT", help="serve streamable HTTP at /mcp (host default 127.0.0.1) instead of stdio")
    parser.add_argument("--api-url", dest="api_url", help="the public API (default $BUREAU_API_URL or http://127.0.0.1:8700)")
    return parser


def run(argv: Sequence[str]) -> int:
    return main(build_parser().parse_args(list(argv)))


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="bureau-agent mcp: %(message)s")
    try:
        import anyio

        from bureau_agent.client import AsyncBureau, BureauError
        from bureau_agent.mcpserver.server import run_http, run_stdio
    except ImportError as exc:
        print(f"bureau-agent mcp: {exc.name} is missing: pip install 'bureau-agent[mcp]'", file=sys.stderr)
        return EXIT_USAGE
    if not os.environ.get("BUREAU_API_KEY"):
        print("bureau-agent mcp: set BUREAU_API_KEY to an API key (sk_live_…)", file=sys.stderr)
        return EXIT_USAGE
    listen = None
    if args.http:
        try:
            listen = parse_listen(args.http)
        except ValueError as exc:
            print(f"bureau-agent mcp: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if not is_loopback(listen[0]):
            # the server holds the API key: whoever reaches it drives the desktops
            logging.warning("listening on %s, not loopback: anyone who reaches it acts with this API key", listen[0])

    async def run() -> None:
        async with AsyncBureau(base_url=args.api_url) as bureau:
            if listen is None:
                await run_stdio(bureau)
            else:
                await run_http(bureau, *listen)

    try:
        anyio.run(run)
    except BureauError as exc:
        print(f"bureau-agent mcp: GET /v1/me failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
