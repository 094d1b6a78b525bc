"""Memory letters: .txt/.md/.docx intake and chunking on Chinese sentence boundaries."""

from __future__ import annotations

import io
import re

import docx
import pytest

from bot.core.errors import UserError
from bot.services.imports.letter import chunk_letter, estimate_tokens, read_letter

SENTENCES = [
    "我还记得那年冬天，你说要陪我看雪。",
    "“你会一直在吗？”我问。",
    "你说：“会的！”",
    "后来我们一起去了重庆，吃了很辣的火锅……",
    "那天晚上的月亮特别圆；我到现在都忘不了。",
    "We also talked in English sometimes. You liked that.",
]


def _letter(paragraphs: int = 40) -> str:
    out = []
    for p in range(paragraphs):
        out.append("".join(SENTENCES[(p + i) % len(SENTENCES)] for i in range(p % 13 + 1)))
    return "\n\n".join(out)


def _squash(text: str) -> str:
    return re.sub(r"\s", "", text)


def test_estimate_tokens_counts_cjk_per_character() -> None:
    assert estimate_tokens("你好世界") == 4
    assert estimate_tokens("hello world") == 3  # 10 non-space chars / 3.5, rounded up
    assert estimate_tokens("") == 0


def test_chunks_cover_the_letter_exactly_and_are_spans() -> None:
    text = _letter()
    chunks = chunk_letter(text)
    assert len(chunks) > 3
    assert _squash("".join(c.text for c in chunks)) == _squash(text)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.tokens <= 500
    assert [c.index for c in chunks] == list(range(len(chunks)))
    # Apart from the last, chunks reach the minimum before ending at a paragraph break.
    assert all(c.tokens >= 250 for c in chunks[:-1])


def test_chunks_end_on_sentence_boundaries() -> None:
    long_paragraph = "".join(SENTENCES[:5]) * 40  # one paragraph far over the maximum
    chunks = chunk_letter(long_paragraph)
    assert len(chunks) > 1
    for chunk in chunks[:-1]:
        assert chunk.text[-1] in "。！？；…”", chunk.text[-5:]
    # A closing quote stays with its sentence.
    assert not any(c.text.startswith("”") for c in chunks)


def test_unpunctuated_run_is_split_hard_but_kept_whole() -> None:
    text = "没有标点的一大段文字" * 200
    chunks = chunk_letter(text)
    assert all(c.tokens <= 500 for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_short_letter_is_one_chunk() -> None:
    chunks = chunk_letter("晚安。\n\n明天见。")
    assert [c.text for c in chunks] == ["晚安。\n\n明天见。"]


def test_read_letter_gb18030_txt_and_markdown() -> None:
    text = _letter(10)
    assert read_letter(text.encode("gb18030"), "letter.txt") == text
    markdown = "# 给小暖的信\n\n**你好**，好久不见。"
    assert read_letter(markdown.encode(), "letter.md") == markdown


def test_read_letter_docx() -> None:
    document = docx.Document()
    document.add_paragraph("第一段：我们相遇的那天。")
    document.add_paragraph("第二段：后来的日子。")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "生日"
    table.rows[0].cells[1].text = "三月五日"
    out = io.BytesIO()
    document.save(out)
    text = read_letter(out.getvalue(), "letter.docx")
    assert text.splitlines() == [
        "第一段：我们相遇的那天。",
        "第二段：后来的日子。",
        "生日\t三月五日",
    ]


@pytest.mark.parametrize(
    ("data", "name", "key"),
    [
        (b"", "a.txt", "files.empty"),
        (b"\n\n  ", "a.txt", "files.empty"),
        (b"\x89PNG\r\n\x1a\nrest", "a.txt", "files.not_text"),
        (b"not a zip at all", "letter.docx", "files.not_text"),
        (b"%PDF-1.7 ...", "a.pdf", "files.not_text"),
    ],
)
def test_read_letter_rejects(data: bytes, name: str, key: str) -> None:
    with pytest.raises(UserError) as exc:
        read_letter(data, name)
    assert exc.value.key == key


def test_read_letter_rejects_zip_that_is_not_docx() -> None:
    out = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "hi")
    with pytest.raises(UserError) as exc:
        read_letter(out.getvalue(), "letter.docx")
    assert exc.value.key == "files.not_text"
