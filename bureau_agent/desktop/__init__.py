"""X11: the display owner thread, input devices, keymap planning and screen capture.

Nothing here imports aiohttp: the API layer calls into these classes.
"""
