"""Outbound: the heartbeat to the control plane."""
