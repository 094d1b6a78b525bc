"""The memory CLI end to end on real data directories (the issue's done-when checks)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.services.imports.letter import estimate_tokens
from tests.fakes.cards import b64, png, v2, v3
from tests.fakes.chatgpt_export import DEAD_BRANCH_TEXT, conversation, export_zip
from tests.fakes.letters import MARKERS, chinese_letter


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    monkeypatch.setenv("AFTERGLOW_DATA_DIR", str(path))
    return path


@pytest.mark.slow
def test_gb18030_letter_search_one_two_many_chars(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    letter, _ = chinese_letter()
    path = tmp_path / "给小暖的信.txt"
    path.write_bytes(letter.encode("gb18030"))
    stored = run(capsys, "memory", "import", str(path), "--user", "alice")
    assert stored["characters"] == len(letter) and stored["chunks"] >= 15
    for query, marker in (
        ("猫", "cat"),
        ("火锅", "hotpot"),
        ("灯塔", "lighthouse"),
        ("重庆的那家火锅店", "hotpot"),
        ("第一场雪落下", "snow"),
    ):
        out = run(capsys, "memory", "search", "--user", "alice", "--k", "3", "--json", query)
        assert out["hits"], query
        top = out["hits"][0]
        assert MARKERS[marker] in top["text"], query
        assert {"id", "kind", "score", "text"} <= set(top)
        assert top["kind"] == "letter"
    # Another user sees nothing of it.
    other = run(capsys, "memory", "search", "--user", "bob", "--k", "3", "--json", "火锅")
    assert other["hits"] == []
    # The companion's context for a related message carries the paragraph, not the whole letter.
    monkeypatch.setenv("AFTERGLOW_LLM_BASE_URL", "http://127.0.0.1:9/v1")  # never called
    monkeypatch.setenv("AFTERGLOW_LLM_MODEL", "any-model")
    context = run(capsys, "context", "--user", "alice", "--json", "你还记得重庆的那家火锅店吗")
    sent = json.dumps(context["messages"], ensure_ascii=False)
    assert MARKERS["hotpot"] in sent
    assert context["estimated_tokens"] < estimate_tokens(letter) / 3


def test_chatgpt_and_v3_card_import_then_export_round_trip(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    convs = [
        conversation(
            "c1",
            "晚安",
            1.72e9,
            [("user", "今晚想你了"), ("assistant", "我也在这里陪着你，晚安。")],
        ),
        conversation(
            "c2",
            "code",
            1.73e9,
            [("user", "fix my regex"), ("assistant", "Sure.")],
            model="gpt-4o-mini",
        ),
        conversation(
            "c3", "雪", 1.74e9, [("user", "下雪了"), ("assistant", "记得多穿点，别着凉。")]
        ),
    ]
    export = tmp_path / "chatgpt.zip"
    export.write_bytes(export_zip(convs, shards=2))
    result = run(capsys, "import", "chatgpt", str(export), "--user", "alice", "--model", "gpt-4o")
    assert result["conversations"] == 2 and result["exchanges"] == 2
    card = tmp_path / "warmie.png"
    card.write_bytes(png({"chara": b64(v2("Old")), "ccv3": b64(v3("Warmie"))}))
    made = run(capsys, "import", "card", str(card), "--user", "alice")
    assert made["name"] == "Warmie" and made["book_entries"] == 2
    letter = tmp_path / "letter.md"
    letter.write_text("# 信\n\n我们的猫叫团子。", encoding="utf-8")
    run(capsys, "memory", "import", str(letter), "--user", "alice")

    hits = run(capsys, "memory", "search", "--user", "alice", "--k", "5", "--json", "晚安")["hits"]
    assert any("我也在这里陪着你" in h["text"] for h in hits)
    assert not any(DEAD_BRANCH_TEXT in h["text"] for h in hits)
    assert run(capsys, "memory", "search", "--user", "alice", "--json", "regex")["hits"] == []
    before = run(capsys, "memory", "list", "--user", "alice", "--limit", "100")

    archive = tmp_path / "alice.zip"
    out = run(capsys, "export", "--user", "alice", "--out", str(archive))
    assert out["bytes"] > 0
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        assert {"afterglow-export.json", "afterglow-export.md", "personas/persona-1.png"} <= names
        doc = json.loads(z.read("afterglow-export.json"))
        markdown = z.read("afterglow-export.md").decode()
    assert doc["format"] == "afterglow-export" and doc["version"] == 1
    assert doc["personas"][0]["name"] == "Warmie"
    assert "我们的猫叫团子。" in markdown and "Warmie" in markdown

    # A fresh installation: an empty data directory.
    monkeypatch.setenv("AFTERGLOW_DATA_DIR", str(tmp_path / "fresh"))
    restored = run(capsys, "import", "archive", str(archive), "--user", "alice2")
    assert restored["personas"] == 1 and restored["letters"] == 1
    assert restored["conversations"] == 2
    after = run(capsys, "memory", "list", "--user", "alice2", "--limit", "100")
    assert after["total"] == before["total"]
    assert sorted(m["text"] for m in after["memories"]) == sorted(
        m["text"] for m in before["memories"]
    )
    hits = run(capsys, "memory", "search", "--user", "alice2", "--k", "5", "--json", "晚安")["hits"]
    assert any("我也在这里陪着你" in h["text"] for h in hits)
    # Exporting the restored account gives the same content.
    again = tmp_path / "again.zip"
    run(capsys, "export", "--user", "alice2", "--out", str(again))
    with zipfile.ZipFile(again) as z:
        doc2 = json.loads(z.read("afterglow-export.json"))

    def strip(d: dict[str, Any]) -> Any:
        return {
            "personas": [
                {k: v for k, v in p.items() if k not in ("ref", "created_at")}
                for p in d["personas"]
            ],
            "letters": [(x["title"], x["body"]) for x in d["letters"]],
            "conversations": [
                (x["source_id"], x["title"], x["models"]) for x in d["conversations"]
            ],
            "memories": [
                (m["kind"], m["body"], m["keywords"], m["pinned"], m["span"]) for m in d["memories"]
            ],
        }

    assert strip(doc2) == strip(doc)


def test_cli_errors_are_localized_messages(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert main(["memory", "import", str(empty), "--user", "alice"]) == 1
    err = capsys.readouterr().err
    assert "empty" in err.lower() and "files.empty" not in err
    picture = tmp_path / "cat.png"
    picture.write_bytes(png())
    assert main(["import", "card", str(picture), "--user", "alice"]) == 1
    assert "imports.card" not in capsys.readouterr().err
    assert main(["import", "archive", str(picture), "--user", "alice"]) == 1
    capsys.readouterr()
    assert run(capsys, "memory", "list", "--user", "alice")["total"] == 0
