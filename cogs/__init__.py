"""Feature modules: one feature per cog, each declaring its commands once, as data."""
