"""Registry rules: names, duplicates, groups, and finding commands."""

from __future__ import annotations

import pytest

from bot.core import Cog, Invocation, Option, OptionType, Registry, Where, command
from bot.core.commands import RegistryError
from bot.core.parsing import parse_command


class Good(Cog):
    @command("remember", where=Where.DM, options=[Option("text", required=True)])
    async def remember(self, inv: Invocation, text: str) -> None: ...

    @command("wall", sub="browse", default_sub=True, where=Where.GROUP)
    async def browse(self, inv: Invocation) -> None: ...

    @command(
        "wall",
        sub="search",
        where=Where.GROUP,
        options=[Option("page", OptionType.INTEGER), Option("query", required=True)],
    )
    async def search(self, inv: Invocation, query: str, page: int | None = None) -> None: ...


def make(name: str, **kw: object) -> Cog:
    class One(Cog):
        @command(name, **kw)  # type: ignore[arg-type]
        async def cmd(self, inv: Invocation) -> None: ...

    return One()


@pytest.mark.parametrize("name", ["Help", "a-b", "", "x" * 33, "帮助", "with space"])
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(RegistryError):
        Registry().add_cog(make(name))


def test_valid_names_are_accepted() -> None:
    reg = Registry()
    reg.add_cog(make("a_b_2"))
    reg.add_cog(make("x" * 32))
    assert {c.spec.name for c in reg} == {"a_b_2", "x" * 32}


def test_duplicate_command_is_rejected() -> None:
    reg = Registry()
    reg.add_cog(make("help"))
    with pytest.raises(RegistryError, match="duplicate"):
        reg.add_cog(make("help"))


def test_plain_command_and_group_cannot_share_a_name() -> None:
    reg = Registry()
    reg.add_cog(Good())
    with pytest.raises(RegistryError):
        reg.add_cog(make("wall"))
    reg2 = Registry()
    reg2.add_cog(make("wall"))
    with pytest.raises(RegistryError):
        reg2.add_cog(Good())


def test_bad_option_name_is_rejected() -> None:
    with pytest.raises(RegistryError):
        Registry().add_cog(make("ok", options=[Option("Bad-Name")]))


def test_group_finds_default_and_named_subcommands() -> None:
    reg = Registry()
    reg.add_cog(Good())
    assert reg.find("wall").spec.qualified == "wall browse"  # type: ignore[union-attr]
    assert reg.find("wall", "search").spec.qualified == "wall search"  # type: ignore[union-attr]
    assert reg.top_level() == sorted(reg.top_level(), key=reg.top_level().index)
    assert set(reg.top_level()) == {"remember", "wall"}


def test_parsing_gives_the_rest_of_the_line_to_the_last_text_option() -> None:
    reg = Registry()
    reg.add_cog(Good())
    parsed = parse_command(reg, "/remember@afterglow_bot we met in spring, 2024")
    assert parsed is not None
    assert parsed.options == {"text": "we met in spring, 2024"}
    parsed = parse_command(reg, "/wall search 2 最后 的 告别")
    assert parsed is not None and parsed.command.spec.sub == "search"
    assert parsed.options == {"page": 2, "query": "最后 的 告别"}
    bare = parse_command(reg, "/wall")
    assert bare is not None and bare.command.spec.sub == "browse"
    assert parse_command(reg, "/unknown") is None
    assert parse_command(reg, "not a command") is None


def test_modal_must_name_an_existing_text_option() -> None:
    ok = Registry()
    ok.add_cog(make("note", options=[Option("text")], modal="text"))
    assert ok.commands["note"].spec.modal == "text"
    for options, modal in (
        ([Option("text")], "body"),  # no such option
        ([Option("n", OptionType.INTEGER)], "n"),  # not a text option
        ([Option("file", OptionType.ATTACHMENT)], "file"),
    ):
        with pytest.raises(RegistryError, match="modal"):
            Registry().add_cog(make("note", options=options, modal=modal))
