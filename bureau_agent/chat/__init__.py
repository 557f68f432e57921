"""Relay of /v1/chat to the on-desktop AI agent."""
