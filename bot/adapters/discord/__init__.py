"""Discord adapter: slash commands compiled from the registry, DMs, streamed replies."""
