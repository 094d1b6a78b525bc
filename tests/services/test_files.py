"""Safe file intake: size caps, archive inspection before decompression, encodings, names."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from bot.core.errors import UserError
from bot.services.files import (
    Limits,
    SafeZip,
    decode_text,
    display_name,
    ensure_size,
)

LETTER_ZH = (
    "我还记得那年冬天，你说要陪我看雪。后来我们一起去了重庆，吃了很辣的火锅。\n你说过，会一直在。"
)
LETTER_HANT = "他說過會一直陪著我，直到最後。我們一起走過很多地方，謝謝你。"


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def _key(exc: pytest.ExceptionInfo[UserError]) -> str:
    return exc.value.key


def test_declared_size_over_cap_is_rejected_with_sizes() -> None:
    with pytest.raises(UserError) as exc:
        ensure_size(21 * 1024 * 1024, 20 * 1024 * 1024)
    assert _key(exc) == "files.too_large"
    assert exc.value.params == {"size_mb": "21.0", "limit_mb": "20.0"}
    ensure_size(20 * 1024 * 1024, 20 * 1024 * 1024)  # exactly at the cap is fine


def test_valid_archive_members_read_back() -> None:
    data = _zip({"conversations.json": b"[]", "dir/notes.txt": "你好".encode()})
    with SafeZip(data) as archive:
        assert archive.names() == ["conversations.json", "dir/notes.txt"]
        assert archive.read("dir/notes.txt").decode() == "你好"
        with pytest.raises(UserError) as exc:
            archive.read("missing.json")
        assert _key(exc) == "files.missing_member"


def test_zip_bomb_ratio_rejected_before_decompression() -> None:
    bomb = _zip({"conversations.json": b"\0" * (5 * 1024 * 1024)})
    assert len(bomb) < 20_000  # ratio far above 100:1
    with pytest.raises(UserError) as exc:
        SafeZip(bomb)
    assert _key(exc) == "files.zip_bomb"


def test_total_uncompressed_size_cap() -> None:
    stored = _zip({f"f{i}.txt": b"x" * 1000 for i in range(5)}, zipfile.ZIP_STORED)
    with pytest.raises(UserError) as exc:
        SafeZip(stored, Limits(max_total_uncompressed=4000))
    assert _key(exc) == "files.zip_bomb"
    with SafeZip(stored, Limits(max_total_uncompressed=5000)) as archive:
        assert len(archive.names()) == 5


def test_entry_count_cap() -> None:
    many = _zip({f"{i}.txt": b"" for i in range(30)})
    with pytest.raises(UserError) as exc:
        SafeZip(many, Limits(max_entries=20))
    assert _key(exc) == "files.zip_bomb"


@pytest.mark.parametrize(
    "name", ["../evil.json", "a/../../evil.json", "/etc/passwd", "C:/win.ini", "..\\evil.txt"]
)
def test_zip_slip_paths_rejected(name: str) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("ok.txt"), b"fine")
        info = zipfile.ZipInfo("placeholder")
        info.filename = name  # ZipInfo normalizes some names; force the raw one
        archive.writestr(info, b"owned")
    with pytest.raises(UserError) as exc:
        SafeZip(out.getvalue())
    assert _key(exc) == "files.unsafe_archive"


def test_symlink_member_rejected() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        info = zipfile.ZipInfo("conversations.json")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(UserError) as exc:
        SafeZip(out.getvalue())
    assert _key(exc) == "files.unsafe_archive"


def test_lying_central_directory_is_cut_at_declared_size() -> None:
    """A member whose header claims fewer bytes than it holds yields no more than claimed."""
    data = bytearray(_zip({"a.txt": b"A" * 5000}, zipfile.ZIP_STORED))
    # Patch the declared uncompressed size (central directory) down to 10 bytes.
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    try:
        archive = SafeZip(bytes(data))
    except UserError as err:  # rejecting outright is also acceptable
        assert err.key in ("files.bad_archive", "files.zip_bomb")
        return
    with archive:
        try:
            content = archive.read("a.txt")
        except UserError as err:
            assert err.key in ("files.bad_archive", "files.zip_bomb")
        else:
            assert len(content) <= 10


def test_not_a_zip_and_archive_from_path(tmp_path: Path) -> None:
    with pytest.raises(UserError) as exc:
        SafeZip(b"PK\x03\x04 this is not really a zip")
    assert _key(exc) == "files.bad_archive"
    path = tmp_path / "export.zip"
    path.write_bytes(_zip({"card.json": b"{}"}))
    with SafeZip(path) as archive:
        assert archive.read("card.json") == b"{}"
    with pytest.raises(UserError) as exc:
        SafeZip(path, Limits(max_file_bytes=10))
    assert _key(exc) == "files.too_large"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (LETTER_ZH, "utf-8"),
        (LETTER_ZH, "utf-8-sig"),
        (LETTER_ZH, "utf-16"),
        (LETTER_ZH, "gb18030"),
        (LETTER_ZH, "gbk"),
        (LETTER_HANT, "big5"),
        (LETTER_HANT, "utf-16-be"),
        ("Dear Warmie, I still remember the snow.", "utf-16-le"),
        ("你好", "gb18030"),
        ("謝謝你", "big5"),
        ("café déjà vu — naïve", "cp1252"),
    ],
)
def test_decode_text_detects_encoding(text: str, encoding: str) -> None:
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    assert decode_text(data) == text


def test_decode_text_long_gb18030_and_big5_letters() -> None:
    zh = (LETTER_ZH * 200).encode("gb18030")
    hant = (LETTER_HANT * 200).encode("big5")
    assert decode_text(zh) == LETTER_ZH * 200
    assert decode_text(hant) == LETTER_HANT * 200


def test_decode_text_rejects_empty_and_binary() -> None:
    for blank in (b"", b"   \n\t", "\ufeff".encode("utf-8-sig")):
        with pytest.raises(UserError) as exc:
            decode_text(blank)
        assert _key(exc) == "files.empty"
    with pytest.raises(UserError) as exc:
        decode_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    assert _key(exc) == "files.not_text"


def test_decode_text_normalizes_newlines_only() -> None:
    assert decode_text("一\r\n二\r三".encode()) == "一\n二\n三"


def test_display_name_escapes_and_truncates() -> None:
    shown = display_name("@everyone **x**.txt")
    assert "@everyone" not in shown
    assert "\\*\\*x\\*\\*" in shown
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("a\x00b\u202ec.txt") == "abc.txt"
    long = display_name("记" * 300 + ".txt")
    assert len(long) == 100 and long.endswith("…")
    assert display_name("x" * 100) == "x" * 100
    assert len(display_name("*" * 120)) <= 100
