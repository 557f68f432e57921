"""Commands: the runner, bounded output and ending whole process trees. No aiohttp here."""
