"""The multi-line form a command opens when its long-text option was left empty."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord

# Discord's limits: 45 characters for a modal title and a text input label.
TITLE_MAX = 45
LABEL_MAX = 45
TEXT_MAX = 4000
MODAL_TIMEOUT = 15 * 60.0

Submit = Callable[[discord.Interaction, str], Awaitable[None]]


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when it was longer."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class LongTextModal(discord.ui.Modal):
    """One paragraph text input; on submit hands the new interaction and the text to `submit`."""

    def __init__(self, *, title: str, label: str, submit: Submit) -> None:
        super().__init__(title=clip(title, TITLE_MAX), timeout=MODAL_TIMEOUT)
        self.text: discord.ui.TextInput[LongTextModal] = discord.ui.TextInput(
            label=clip(label, LABEL_MAX),
            style=discord.TextStyle.paragraph,
            max_length=TEXT_MAX,
            required=True,
        )
        self.add_item(self.text)
        self._submit = submit

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._submit(interaction, self.text.value)
