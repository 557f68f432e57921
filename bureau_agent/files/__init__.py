"""Files on the desktop (/v1/files), every operation with the desktop user's rights (no aiohttp here)."""
