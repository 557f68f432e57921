"""The chat fixtures (tests/support/chat.py) for the tests of this directory."""

from tests.support.chat import cli_settings, closed_port_url, fake_openai, make_relay, openai_settings  # noqa: F401
