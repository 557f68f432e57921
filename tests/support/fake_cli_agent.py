"""A command-line AI agent for the tests, in the style of a coding agent's print mode.

    fake_cli_agent.py --state DIR [--output text|json|jsonl] [--session-id NEW | --resume SESSION] [MESSAGE]

The message is the last argument, or stdin when there is none. It keeps sessions in DIR and
answers `echo: <message> | seen: <earlier messages of the session> | session: <id>`; with
--output json it prints {"type": "result", "result": …, "session_id": …}, with jsonl a progress
line first. Some messages change its behaviour:
  slow         start a grandchild, write both pids to DIR/pids, sleep (TERM ends it)
  stubborn     like slow, but ignores TERM
  fail         print to stderr and exit 3
  leak         print CHAT_TEST_VAR to stderr after CHAT_TEST_PAD dots (a "wrong key" error), exit 3
  malformed    print text that is not JSON (whatever --output says)
  env          answer the names of the BUREAU_AGENT_* variables it sees, DISPLAY, CHAT_TEST_VAR, cwd
  background   start a grandchild that keeps stdout open (pid in DIR/pids), answer, exit
  silent       print nothing, exit 0
  big          print 300 000 characters
  drip         print "first part", then wait (30 s at most) for DIR/go, then print " second part"
  drip_fail    like drip, but after DIR/go print to stderr and exit 3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True)
    parser.add_argument("--output", choices=("text", "json", "jsonl"), default="text")
    parser.add_argument("--resume")
    parser.add_argument("--session-id", dest="session_id")
    parser.add_argument("message", nargs="?")
    args = parser.parse_args()
    state = Path(args.state)
    message = args.message if args.message is not None else sys.stdin.read()

    if message in ("slow", "stubborn"):
        if message == "stubborn":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        (state / "pids").write_text(f"{os.getpid()} {child.pid}")
        time.sleep(60)
        return 0
    if message == "fail":
        print("agent exploded: no model loaded", file=sys.stderr)
        return 3
    if message == "leak":
        pad = "." * int(os.environ.get("CHAT_TEST_PAD", "0"))
        print(f"{pad} bad key {os.environ.get('CHAT_TEST_VAR', '-')}", file=sys.stderr)
        return 3
    if message == "malformed":
        print("this is {not json")
        return 0
    if message == "silent":
        return 0
    if message == "big":
        print("x" * 300_000)
        return 0
    if message in ("drip", "drip_fail"):
        print("\nfirst part", end="", flush=True)  # a leading newline, which the reply drops
        deadline = time.monotonic() + 30
        while not (state / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        if message == "drip_fail":
            print("agent lost its model mid-answer", file=sys.stderr)
            return 3
        print(" second part\n", flush=True)
        return 0
    if message == "background":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # inherits stdout
        (state / "pids").write_text(str(child.pid))

    session = args.resume or args.session_id or str(uuid.uuid4())
    session_file = state / f"session-{session}.json"
    if args.resume and not session_file.exists():
        print(f"no session {args.resume}", file=sys.stderr)
        return 4
    history: list[str] = json.loads(session_file.read_text()) if session_file.exists() else []
    if message == "env":
        names = sorted(k for k in os.environ if k.startswith("BUREAU_AGENT_"))
        extra = os.environ.get("CHAT_TEST_VAR", "-")
        reply = f"env: {','.join(names) or '-'} display: {os.environ.get('DISPLAY', '-')} extra: {extra} cwd: {os.getcwd()}"
    else:
        reply = f"echo: {message} | seen: {' / '.join(history) or '-'} | session: {session}"
    session_file.write_text(json.dumps([*history, message]))

    if args.output == "text":
        print(reply)
    else:
        if args.output == "jsonl":
            print(json.dumps({"type": "progress", "note": "thinking"}))
        print(json.dumps({"type": "result", "result": reply, "session_id": session, "meta": {"turns": len(history) + 1}}))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
