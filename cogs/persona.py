"""/persona in direct messages: create, show, edit, switch, delete and list companions."""

from __future__ import annotations

from typing import Final

from bot.core import Cog, Invocation, Option, Where, command
from bot.core.models import OutFile
from bot.services.persona import EDIT_FIELDS, PersonaService
from bot.services.storage.personas import Persona

_SHOWN: Final = (
    ("personality", "personality"),
    ("speaking_style", "style"),
    ("relationship", "relationship"),
    ("important_dates", "dates"),
    ("example_dialogue", "examples"),
    ("greeting", "greeting"),
)


class PersonaCog(Cog):
    """The companions a person keeps; only ever given to direct-message handlers."""

    name = "persona"

    def __init__(self, personas: PersonaService) -> None:
        self.personas = personas

    @command(
        "persona",
        sub="create",
        where=Where.DM,
        personal=True,
        options=[Option("name", required=True), Option("personality")],
    )
    async def create(self, inv: Invocation, name: str = "", personality: str | None = None) -> None:
        """Create a persona (it becomes the active one)."""
        persona = await self.personas.create(inv.user, name, personality=personality)
        await inv.reply(inv.t("persona.created", name=persona.name))

    @command("persona", sub="show", where=Where.DM, personal=True, options=[Option("name")])
    async def show(self, inv: Invocation, name: str | None = None) -> None:
        """Show a persona (the active one by default), with its V2 card attached."""
        persona = await self.personas.get(inv.user, name)
        data = await self.personas.card_png(inv.user, str(persona.id))
        await inv.reply(
            self.render(inv, persona), files=[OutFile(data, f"persona-{persona.id}.png")]
        )

    @command(
        "persona",
        sub="edit",
        where=Where.DM,
        personal=True,
        options=[
            Option("field", required=True, choices=tuple(EDIT_FIELDS)),
            Option("value", required=True),
        ],
        modal="value",
    )
    async def edit(self, inv: Invocation, field: str = "", value: str = "") -> None:
        """Change one field of the active persona (`-` clears a sampling setting)."""
        persona = await self.personas.edit(inv.user, field, value)
        await inv.reply(
            inv.t("persona.updated", name=persona.name, field=inv.t(f"persona.field_{field}"))
        )

    @command(
        "persona",
        sub="switch",
        where=Where.DM,
        personal=True,
        options=[Option("name", required=True)],
    )
    async def switch(self, inv: Invocation, name: str = "") -> None:
        """Talk with another of your personas from now on."""
        persona = await self.personas.switch(inv.user, name)
        await inv.reply(inv.t("persona.switched", name=persona.name))

    @command(
        "persona",
        sub="delete",
        where=Where.DM,
        personal=True,
        options=[Option("name", required=True)],
    )
    async def delete(self, inv: Invocation, name: str = "") -> None:
        """Delete a persona and the memories that belong only to it, after confirmation."""
        persona = await self.personas.get(inv.user, name)
        sure = await inv.replier.confirm(
            inv.t("persona.delete_confirm", name=persona.name),
            yes=inv.t("core.yes"),
            no=inv.t("core.no"),
        )
        if not sure:
            await inv.reply(inv.t("persona.kept", name=persona.name))
            return
        await self.personas.delete(inv.user, str(persona.id))
        await inv.reply(inv.t("persona.deleted", name=persona.name))

    @command("persona", sub="list", where=Where.DM, personal=True)
    async def list(self, inv: Invocation) -> None:
        """List your personas; the active one is marked."""
        personas = await self.personas.list(inv.user)
        if not personas:
            await inv.reply(inv.t("persona.none"))
            return
        lines = [
            inv.t("persona.list_active" if p.active else "persona.list_item", id=p.id, name=p.name)
            for p in personas
        ]
        await inv.reply("\n".join([inv.t("persona.list_title"), *lines]))

    @staticmethod
    def render(inv: Invocation, persona: Persona) -> str:
        lines = [inv.t("persona.show_title", name=persona.name, id=persona.id)]
        for column, label in _SHOWN:
            value = getattr(persona, column)
            if value:
                lines.append(f"{inv.t(f'persona.field_{label}')}: {value}")
        sampling = [
            f"{column}={getattr(persona, column)}"
            for column in ("temperature", "top_p", "max_tokens")
            if getattr(persona, column) is not None
        ]
        if sampling:
            lines.append(f"{inv.t('persona.field_sampling')}: {', '.join(sampling)}")
        return "\n".join(lines)
