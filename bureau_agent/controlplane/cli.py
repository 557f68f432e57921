"""`bureau-agent control-plane serve|init|new-key --config FILE`.

    serve    run the control plane
    init     write a configuration with one local desktop; prints the desktop id
    new-key  add an API key to the configuration; prints the key (only its hash is stored)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shlex
import sys
from pathlib import Path

from bureau_agent.config import ConfigError
from bureau_agent.controlplane.keys import CAPABILITIES, ApiKey, generate_key, hash_key

SESSIONS = ("openbox", "xfce")  # controlplane.config.SESSIONS, without importing the loader here

DEFAULT_CONFIG = "control-plane.toml"
EXIT_CONFIG = 2


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=DEFAULT_CONFIG, help=f"TOML or JSON file (default {DEFAULT_CONFIG})")
    parser = sub.add_parser("control-plane", help="run a local control plane (the public /v1/desktops API)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    serve = verbs.add_parser("serve", parents=[common], help="run the control plane")
    serve.add_argument("--log-level", dest="log_level", default="info", choices=("debug", "info", "warning", "error"))
    init = verbs.add_parser("init", parents=[common], help="write a configuration with one local desktop; prints its id")
    init.add_argument("--desktop-id", help="id of the desktop (default: a random dsk_… id)")
    init.add_argument("--desktop-name", default="Local desktop")
    init.add_argument("--listen", default="127.0.0.1:8700")
    init.add_argument("--session", default="openbox", choices=SESSIONS, help="openbox (light) or xfce (like production)")
    init.add_argument("--app", action="append", default=[], help="a program to start on the display (repeatable)")
    init.add_argument("--heartbeat-interval-s", type=float, default=10.0)
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    key = verbs.add_parser("new-key", parents=[common], help="add an API key to the configuration; prints the key")
    key.add_argument("--name", default="dev")
    key.add_argument(
        "--capability", action="append", choices=CAPABILITIES, help="repeatable (default: all four)"
    )
    key.add_argument("--rate-limit-per-minute", type=int)


def _argv(text: str) -> list[str]:
    """One --app value split like the agent's list settings (quotes keep spaces in an argument)."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"--app {text!r}: {exc}") from None


def _init(args: argparse.Namespace) -> int:
    from bureau_agent.controlplane.config import toml_entry, toml_value, write_new

    path = Path(args.config)
    if path.exists() and not args.force:
        print(f"bureau-agent: {path} exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_CONFIG
    desktop_id = args.desktop_id or "dsk_" + secrets.token_hex(6)
    desktop = {
        "id": desktop_id, "name": args.desktop_name, "autostart": True, "session": args.session,
        "apps": [_argv(a) for a in args.app],
    }  # fmt: skip
    data = {"listen": args.listen, "heartbeat_interval_s": args.heartbeat_interval_s, "keys": [], "desktops": [desktop]}
    if path.suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        lines = [
            "# bureau-agent control plane (docs/control-plane.md); keys: bureau-agent control-plane new-key",
            f"listen = {toml_value(args.listen)}",
            f"heartbeat_interval_s = {toml_value(args.heartbeat_interval_s)}",
            "",
            *toml_entry("desktops", desktop),
        ]
        text = "\n".join(lines) + "\n"
    write_new(path, text)  # refuses values the loader would refuse, before anything is written
    print(desktop_id)
    return 0


def _new_key(args: argparse.Namespace) -> int:
    from bureau_agent.controlplane.config import append_key

    key = generate_key()
    caps = tuple(args.capability or CAPABILITIES)
    # append_key checks that the file loads with the new entry, so a bad entry is never written
    append_key(args.config, ApiKey(args.name, hash_key(key), caps, args.rate_limit_per_minute))
    print(key)
    return 0


def run(argv: list[str]) -> int:
    """`bureau-agent control-plane ARGS…` (the daemon's CLI hands these over unparsed)."""
    parser = argparse.ArgumentParser(prog="bureau-agent")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return main(parser.parse_args(["control-plane", *argv]))


def main(args: argparse.Namespace) -> int:
    try:
        if args.verb == "init":
            return _init(args)
        if args.verb == "new-key":
            return _new_key(args)
        from bureau_agent.controlplane.config import load_config

        config = load_config(args.config)
    except ConfigError as exc:
        print(f"bureau-agent: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    from bureau_agent.controlplane.app import serve
    from bureau_agent.log import setup_logging

    setup_logging(args.log_level)
    return asyncio.run(serve(config))
