"""The `bureau-agent` command: serve, doctor, version, control-plane, mcp."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from bureau_agent import __version__
from bureau_agent.config import ConfigError, Settings, load_settings, resolve_heartbeat_token, resolve_token

EXIT_CONFIG = 2


def _settings_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML settings file (default /etc/bureau-agent/agent.toml)")
    common.add_argument("--listen", help="HOST:PORT to listen on (default 127.0.0.1:7700)")
    common.add_argument("--display", help="X display (default $DISPLAY)")
    common.add_argument("--token-file", dest="token_file", help="file holding the bearer token")
    common.add_argument("--dev", action="store_const", const=True, help="development mode: no token, loopback only")
    common.add_argument("--log-level", dest="log_level", help="debug, info, warning or error")
    common.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="NAME=VALUE", help="any setting, for example --set exec_max_concurrent=4"
    )
    return common


# Subcommands that are programs of their own: name -> (module with run(argv), help).
DELEGATED = {
    "control-plane": ("bureau_agent.controlplane.cli", "run a local control plane (the public /v1/desktops API)"),
    "mcp": ("bureau_agent.mcpserver.cli", "run the MCP server for AI assistants over the public API (the [mcp] extra)"),
}


def build_parser() -> argparse.ArgumentParser:
    common = _settings_parser()
    parser = argparse.ArgumentParser(prog="bureau-agent", description="The agent inside a bureau desktop.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", parents=[common], help="run the daemon")
    sub.add_parser("doctor", parents=[common], help="check the display, XTest, capture, token and heartbeat URL")
    sub.add_parser("version", help="print the version")
    for name, (_, help_text) in DELEGATED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for item in args.sets:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected NAME=VALUE")
        overrides[name.strip()] = value
    for name in ("config", "listen", "display", "token_file", "dev", "log_level"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return load_settings(overrides=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        # Imported only here: the daemon never loads the tools it does not run.
        module = DELEGATED[argv[0]][0]
        try:
            run: Any = importlib.import_module(module).run
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
            # the VM's .deb carries only the daemon (packaging/build-deb)
            print(f"bureau-agent: {argv[0]} is not part of this installation (pip install bureau-agent has it)", file=sys.stderr)
            return EXIT_CONFIG
        return int(run(argv[1:]))
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    try:
        settings = settings_from_args(args)
        if args.command == "doctor":
            from bureau_agent.doctor import doctor

            return doctor(settings)
        token = resolve_token(settings)
        heartbeat_token = resolve_heartbeat_token(settings, token)
    except ConfigError as exc:
        print(f"bureau-agent: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    from bureau_agent.log import setup_logging
    from bureau_agent.server import serve

    setup_logging(settings.log_level, secrets=settings.secret_values(token, heartbeat_token))
    return asyncio.run(serve(settings, token, heartbeat_token))
