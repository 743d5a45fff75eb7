"""Finding the hourly files: hours, date folders, arrays or JSON lines (no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from esteira.chatbot.io import find_hour_files
from esteira.errors import InputError


def _lake(tmp_path: Path) -> Path:
    for folder, name, text in [
        ("date=2019-12-16", "hour=13.json", '\ufeff  [{"a": 1}]'),
        ("date=2019-12-16", "hour=14.json", '{"a": 1}\n'),
        ("date=2019-12-16", "hour=15.json", ""),
        ("date=2019-12-17", "hour=13.json", '{"a": 1}\n'),
        ("date=2019-12-17", "notes.json", '{"a": 1}\n'),
    ]:
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_hours_and_dates_pick_files_and_the_first_character_tells_the_layout(tmp_path):
    lake = _lake(tmp_path)
    every = find_hour_files(lake)
    assert [(f.source, f.hour, f.is_array) for f in every] == [
        ("date=2019-12-16/hour=13.json", 13, True),
        ("date=2019-12-16/hour=14.json", 14, False),
        ("date=2019-12-17/hour=13.json", 13, False),
    ]  # the empty hour=15 holds no events; notes.json is no hour file
    picked = find_hour_files(lake, hours=[13], dates=["2019-12-17"])
    assert [f.source for f in picked] == ["date=2019-12-17/hour=13.json"]


def test_nothing_to_read_names_what_was_asked(tmp_path):
    with pytest.raises(InputError, match="no non-empty hour=HH.json files for hours 09"):
        find_hour_files(_lake(tmp_path), hours=[9])
    with pytest.raises(InputError, match="does not exist"):
        find_hour_files(tmp_path / "nowhere")
