"""A local control plane: the public /v1/desktops API served on one machine.

It checks API keys and their capabilities, rate-limits each key, runs local desktops (Xvfb, a
window manager and a bureau-agent each) and forwards control and chat calls to their agents.
For development, demos and end-to-end tests; see docs/control-plane.md.
"""
