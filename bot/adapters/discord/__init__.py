"""Discord adapter: slash commands compiled from the registry, DMs, streamed replies.

Only this package may import `discord` (enforced by ruff's banned-api rule).
"""

from bot.adapters.discord.client import DiscordAdapter

__all__ = ["DiscordAdapter"]
