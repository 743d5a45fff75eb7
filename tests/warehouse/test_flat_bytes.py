"""The flat file's byte work: days' line ranges and kernel copies, on real files."""

from __future__ import annotations

from pathlib import Path

from esteira.warehouse.flat_bytes import copy_range, split_lines


def test_split_lines_finds_each_days_byte_range_after_a_skipped_header(tmp_path: Path) -> None:
    rendered = tmp_path / "rows.csv"
    rendered.write_bytes(b"h1,h2\na,1\nb,2\nc,3\n")
    assert split_lines(rendered, {20240101: 2, 20240102: 0, 20240103: 1}, skip=6) == {
        20240101: (6, 14), 20240102: (14, 14), 20240103: (14, 18)}


def test_split_lines_refuses_more_line_breaks_than_rows(tmp_path: Path) -> None:
    rendered = tmp_path / "rows.csv"
    rendered.write_bytes(b'a,"x\ny"\nb,2\n')  # a line break inside a quoted field
    assert split_lines(rendered, {1: 1, 2: 1}) is None
    assert split_lines(rendered, {1: 4}) is None  # fewer than said


def test_copy_range_appends_the_bytes_at_the_files_position(tmp_path: Path) -> None:
    source = tmp_path / "old.csv"
    source.write_bytes(bytes(range(256)) * 40_000)  # 10 MB
    target = tmp_path / "new.csv"
    with source.open("rb") as src, target.open("wb") as dst:
        dst.write(b"head")  # still in the writer's buffer: flushed first
        copy_range(src, dst, 1000, 5_000_000)
        copy_range(src, dst, 0, 3)
    assert target.read_bytes() == b"head" + source.read_bytes()[1000:5_000_000] + b"\0\1\2"
