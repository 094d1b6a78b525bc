"""The storage layer: the only place that speaks SQL.

`Database` owns the SQLite file; each feature keeps its typed repository in a module here
(`users.py`, `conversations.py`, …) that takes the `Database` in its constructor.
"""

from bot.services.storage.db import Database

__all__ = ["Database"]
