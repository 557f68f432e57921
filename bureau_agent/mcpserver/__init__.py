"""`bureau-agent mcp`: a Model Context Protocol server over the public API (docs/mcp.md).

Named mcpserver, not mcp, so that it never shadows the `mcp` SDK it is built on. It speaks only
the public API, through bureau_agent.client; the daemon never imports it.
"""
