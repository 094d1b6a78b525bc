"""Character cards V1/V2/V3 from PNG, JSON and CHARX; V2 PNG export round trip."""

from __future__ import annotations

import base64
import io
import json
import zlib

import pytest
from PIL import Image

from bot.core.errors import UserError
from bot.services.imports.card import (
    Card,
    entry_matches,
    iter_text_chunks,
    read_card,
    write_card_png,
)
from tests.fakes.cards import b64, charx, png, v2, v3


def test_v2_png_with_book() -> None:
    card = read_card(png({"chara": b64(v2())}))
    assert card.spec == "chara_card_v2"
    assert card.name == "小暖"
    assert card.first_mes == "你回来啦。"
    assert card.creator_notes == "NOT-FOR-PROMPTS"
    assert card.extensions == {"custom_tool": {"keep": True}}
    assert [e.keys for e in card.book] == [("火锅", "hotpot"), ("雪",)]
    # V3 decorators are stripped from lorebook content.
    assert card.book[1].content == "那年冬天一起看的第一场雪。"


def test_v3_chunk_preferred_over_v2_whatever_the_order() -> None:
    both = png({"chara": b64(v2("OldName")), "ccv3": b64(v3("Warmie"))})
    card = read_card(both)
    assert (card.spec, card.name, card.nickname) == ("chara_card_v3", "Warmie", "暖暖")
    reversed_order = png({"ccv3": b64(v3("Warmie")), "chara": b64(v2("OldName"))})
    assert read_card(reversed_order).name == "Warmie"


def test_uppercase_keyword_and_itxt_compressed_chunk() -> None:
    assert read_card(png({"Chara": b64(v2("Upper"))})).name == "Upper"
    # Hand-build an iTXt chunk with zlib-compressed text.
    base = png()
    payload = zlib.compress(b64(v3("Compressed")).encode())
    body = b"ccv3\0" + b"\x01\x00" + b"\0" + b"\0" + payload
    chunk = (
        len(body).to_bytes(4, "big")
        + b"iTXt"
        + body
        + zlib.crc32(b"iTXt" + body).to_bytes(4, "big")
    )
    iend = base.rfind(b"\x00\x00\x00\x00IEND")
    assert read_card(base[:iend] + chunk + base[iend:]).name == "Compressed"


def test_v1_flat_json_and_charx() -> None:
    v1 = {
        "name": "Old",
        "description": "d",
        "personality": "p",
        "scenario": "s",
        "first_mes": "hi",
        "mes_example": "",
    }
    card = read_card(json.dumps(v1).encode())
    assert (card.spec, card.name, card.personality) == ("chara_card_v1", "Old", "p")
    assert read_card(charx(v3("Boxed"))).name == "Boxed"


def test_keyword_triggers() -> None:
    card = read_card(png({"chara": b64(v2())}))
    hotpot, snow = card.book
    assert entry_matches(hotpot, "今天想吃火锅")
    assert entry_matches(hotpot, "HOTPOT tonight?")
    assert not entry_matches(hotpot, "今天下雪了")
    assert entry_matches(snow, "今天下雪了")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (png(), "imports.card.no_card"),
        (png({"Title": "just a picture"}), "imports.card.no_card"),
        (png({"chara": base64.b64encode(b"{not json").decode()}), "files.bad_json"),
        (png({"chara": b64({"spec": "chara_card_v2", "data": "x"})}), "imports.card.bad_card"),
        (
            png({"chara": b64({"spec": "chara_card_v2", "data": {"name": ""}})}),
            "imports.card.bad_card",
        ),
        (b'{"name": "x", ', "files.bad_json"),
        (b"[1, 2]", "imports.card.no_card"),
        (b"GIF89a....", "imports.card.no_card"),
        (b"", "files.empty"),
    ],
)
def test_bad_cards_are_rejected(data: bytes, key: str) -> None:
    with pytest.raises(UserError) as exc:
        read_card(data)
    assert exc.value.key == key


def test_charx_without_card_json() -> None:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("assets/x.png", b"x")
    with pytest.raises(UserError) as exc:
        read_card(out.getvalue())
    assert exc.value.key == "imports.card.no_card"


def test_write_card_png_round_trips_as_v2() -> None:
    original = read_card(png({"ccv3": b64(v3("Warmie"))}))
    data = write_card_png(original)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    keys = [k for k, _ in iter_text_chunks(data)]
    assert keys == ["chara"]
    again = read_card(data)
    assert again.spec == "chara_card_v2"
    for field in (
        "name",
        "description",
        "personality",
        "first_mes",
        "mes_example",
        "alternate_greetings",
        "extensions",
        "book",
    ):
        assert getattr(again, field) == getattr(original, field), field


def test_write_card_png_minimal_card() -> None:
    again = read_card(write_card_png(Card(name="小暖", personality="温柔")))
    assert (again.name, again.personality, again.book) == ("小暖", "温柔", ())
