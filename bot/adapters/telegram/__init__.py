"""The Telegram adapter (python-telegram-bot): `adapter.TelegramAdapter`, `menu.menu_payload`.

Only this package imports `telegram`. `menu` itself stays importable without starting anything,
so the CLI can print the menus cheaply.
"""

from bot.adapters.telegram.adapter import TelegramAdapter, TelegramOptions

__all__ = ["TelegramAdapter", "TelegramOptions"]
