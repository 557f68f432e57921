"""bureau-agent: the daemon that runs inside every bureau cloud desktop."""

__version__ = "0.1.0"
