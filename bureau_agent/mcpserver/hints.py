"""API errors as tool errors that tell the model what to do next."""

from __future__ import annotations

from bureau_agent.client import errors as e


def hint(error: e.BureauError, desktop_id: str | None, tools: set[str]) -> str:
    """One or two sentences: what went wrong, then the next step (naming a tool the model has)."""
    d = desktop_id or "?"
    status = error.details.get("status")
    if isinstance(error, e.DesktopNotRunning):
        if status == "booting":
            return f"desktop {d} is booting: wait a few seconds (desktops_get shows when agentReady is true), then retry."
        if status == "stopping":
            return f"desktop {d} is stopping: wait for it to stop, then call desktops_start, then retry."
        if status == "error" and "desktops_restart" in tools:
            return f"desktop {d} failed ({error.message}): call desktops_restart, then retry."
        if "desktops_start" in tools:
            return f"desktop {d} is {status or 'not running'}: call desktops_start, then retry."
        return f"desktop {d} is {status or 'not running'} and this API key cannot start it: ask its owner to start it."
    if isinstance(error, (e.AgentNotReady, e.AgentUnreachable, e.DisplayUnavailable)):
        wait = error.retry_after_s or 2
        return f"desktop {d} is running but not ready for control ({error.message}): wait {wait:g} s and retry."
    if isinstance(error, e.Forbidden):
        return f"this API key lacks the capability {error.required} (it holds {', '.join(error.held) or 'none'}): use a key that has it."
    if isinstance(error, e.Unauthorized):
        return "the API key was refused: set BUREAU_API_KEY to a valid key (sk_live_…) and restart this MCP server."
    if isinstance(error, (e.WindowNotFound,)):
        return f"{error.message} Call desktop_windows for the current window ids."
    if isinstance(error, e.FileNotFound):
        return f"{error.message} Call desktop_file_list on the directory to see what is there."
    if isinstance(error, e.NotFound):
        return f"there is no desktop {d}: call desktops_list for the ids this key can use."
    if isinstance(error, e.OutOfBounds):
        return f"{error.message} Coordinates are screen pixels; desktop_screenshot shows the screen size."
    if isinstance(error, e.UnknownKey):
        return f"{error.message} Use X keysym names such as Return, Escape, Tab, BackSpace, ctrl+a, alt+F4, Page_Down."
    if isinstance(error, (e.Busy, e.RateLimited)):
        return f"{error.message} Wait {error.retry_after_s or 1:g} s, then retry."
    if isinstance(error, e.ChatUnavailable):
        return f"{error.message} There is no on-desktop AI agent to talk to: drive the desktop with the desktop_* tools instead."
    if isinstance(error, e.InvalidRequest):
        return f"invalid argument: {error.message} Fix it and call the tool again."
    if isinstance(error, e.ConnectionFailed):
        return f"the bureau API is unreachable ({error.message}): check that it is running and BUREAU_API_URL points at it."
    return f"{error.code}: {error.message}"
