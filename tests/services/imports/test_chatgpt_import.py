"""ChatGPT exports: zip / bare JSON / split shards, active-branch linearization, filters."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from bot.core.errors import UserError
from bot.services.files import Limits
from bot.services.imports.chatgpt import (
    ConversationFilter,
    iter_conversations,
    linearize,
    parse_date,
)
from tests.fakes.chatgpt_export import DEAD_BRANCH_TEXT, conversation, export_zip

DAY = 86_400.0
T0 = parse_date("2025-03-01")


def _convs() -> list[dict[str, object]]:
    return [
        conversation("c1", "晚安小暖", T0, [("user", "晚安"), ("assistant", "晚安，做个好梦。")]),
        conversation(
            "c2",
            "Trip planning",
            T0 + 10 * DAY,
            [("user", "Plan a trip"), ("assistant", "Sure!")],
            model="gpt-4o-mini",
        ),
        conversation("c3", None, T0 + 40 * DAY, [("user", "雪"), ("assistant", "那年的雪。")]),
    ]


def test_active_branch_skips_dead_regeneration_and_hidden_system() -> None:
    conv = linearize(_convs()[0])
    assert conv is not None
    assert [(m.role, m.text) for m in conv.messages] == [
        ("user", "晚安"),
        ("assistant", "晚安，做个好梦。"),
    ]
    assert DEAD_BRANCH_TEXT not in json.dumps([m.text for m in conv.messages])
    assert conv.models == ("gpt-4o",)
    assert conv.messages[1].model == "gpt-4o"
    assert conv.date == "2025-03-01"


def test_zip_and_split_shards_and_bare_json_agree(tmp_path: Path) -> None:
    convs = _convs()
    single = [c.id for c in iter_conversations(export_zip(convs))]
    split = [c.id for c in iter_conversations(export_zip(convs, shards=3))]
    bare = [c.id for c in iter_conversations(json.dumps(convs).encode())]
    wrapped = [c.id for c in iter_conversations(json.dumps({"conversations": convs}).encode())]
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(convs), encoding="utf-8")
    from_path = [c.id for c in iter_conversations(path)]
    zpath = tmp_path / "export.zip"
    zpath.write_bytes(export_zip(convs, shards=2))
    from_zip_path = [c.id for c in iter_conversations(zpath)]
    assert single == split == bare == wrapped == from_path == from_zip_path == ["c1", "c2", "c3"]


def test_split_shards_are_read_in_numeric_order() -> None:
    convs = [conversation(f"c{i}", f"t{i}", T0 + i, [("user", "hi")]) for i in range(12)]
    ids = [c.id for c in iter_conversations(export_zip(convs, shards=11))]
    assert ids == [f"c{i}" for i in range(12)]


def test_filters_by_title_date_and_model() -> None:
    data = export_zip(_convs())

    def ids(chosen: ConversationFilter) -> list[str]:
        return [c.id for c in iter_conversations(data, chosen=chosen)]

    assert ids(ConversationFilter(title_contains="TRIP")) == ["c2"]
    assert ids(ConversationFilter(models=frozenset({"gpt-4o"}))) == ["c1", "c3"]
    assert ids(ConversationFilter(since=T0 + DAY, until=T0 + 30 * DAY)) == ["c2"]
    assert ids(ConversationFilter(ids=frozenset({"c3"}))) == ["c3"]
    assert ids(ConversationFilter(since=parse_date("2030-01-01"))) == []


def test_progress_reports_every_conversation() -> None:
    seen: list[int] = []
    list(iter_conversations(export_zip(_convs()), on_progress=seen.append))
    assert seen == [1, 2, 3]


def test_missing_current_node_falls_back_to_latest_leaf_and_cycles_terminate() -> None:
    conv = _convs()[0]
    conv["current_node"] = "nope"
    parsed = linearize(conv)
    assert parsed is not None and parsed.messages[-1].text in ("晚安，做个好梦。", DEAD_BRANCH_TEXT)
    cyclic = _convs()[1]
    mapping = cyclic["mapping"]
    assert isinstance(mapping, dict)
    mapping["root"]["parent"] = cyclic["current_node"]  # a loop back to the leaf
    parsed = linearize(cyclic)
    assert parsed is not None and len(parsed.messages) == 2


def test_multimodal_parts_tools_and_memory_candidates() -> None:
    conv = conversation("c9", "pics", T0, [("user", "看这张图"), ("assistant", "好看")])
    mapping = conv["mapping"]
    mapping["n0"]["message"]["content"] = {
        "content_type": "multimodal_text",
        "parts": [
            {"content_type": "image_asset_pointer", "asset_pointer": "sediment://x"},
            "看这张图",
        ],
    }
    tool = mapping["n1"]["message"]
    bio = dict(tool, id="bio", recipient="bio")
    bio["content"] = {"content_type": "text", "parts": ["User's cat is named 团子."]}
    mapping["bio"] = {"id": "bio", "message": bio, "parent": "n0", "children": ["n1"]}
    mapping["n1"]["parent"] = "bio"
    parsed = linearize(conv)
    assert parsed is not None
    assert [m.text for m in parsed.messages] == ["看这张图", "好看"]
    assert parsed.memory_candidates == ("User's cat is named 团子.",)


def test_custom_instructions_are_extracted() -> None:
    conv = conversation("c8", "x", T0, [("user", "hi"), ("assistant", "hello")])
    system = conv["mapping"]["sys"]["message"]
    system["metadata"]["is_user_system_message"] = True
    system["metadata"]["user_context_message_data"] = {
        "about_model_message": "叫我宝贝，语气温柔。"
    }
    parsed = linearize(conv)
    assert parsed is not None and parsed.instructions == "叫我宝贝，语气温柔。"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (b'[{"id": "c1", "mapping": {', "files.bad_json"),
        (b"<html>not json</html>", "files.bad_json"),
        (b"[]", "imports.chatgpt.empty"),
        (b"", "files.empty"),
    ],
)
def test_malformed_exports_are_rejected(data: bytes, key: str) -> None:
    with pytest.raises(UserError) as exc:
        list(iter_conversations(data))
    assert exc.value.key == key


def test_zip_without_conversations_is_not_an_export() -> None:
    import io

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("user.json", "{}")
    with pytest.raises(UserError) as exc:
        list(iter_conversations(out.getvalue()))
    assert exc.value.key == "imports.chatgpt.not_export"


def test_size_cap_applies_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(_convs()), encoding="utf-8")
    with pytest.raises(UserError) as exc:
        list(iter_conversations(path, Limits(max_file_bytes=100)))
    assert exc.value.key == "files.too_large"


def test_bad_date_is_a_user_error() -> None:
    with pytest.raises(UserError) as exc:
        parse_date("March 1st")
    assert exc.value.key == "imports.bad_date"
