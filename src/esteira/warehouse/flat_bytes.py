"""The flat file's bytes: each day's lines found by counting line breaks, and byte
ranges copied from one file to another inside the kernel (flat_file.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def split_lines(rendered: Path, counts: dict[int, int],
                 skip: int = 0) -> dict[int, tuple[int, int]] | None:
    """Each day's byte range in `rendered` after its first `skip` bytes (days in order,
    `counts[day]` rows each), or None when its line breaks are more than its rows (one
    inside a field)."""
    import numpy as np

    total = sum(counts.values())
    found, seen, offset = [], 0, skip
    with rendered.open("rb") as fh:
        fh.seek(skip)
        while chunk := fh.read(1 << 26):
            where = np.flatnonzero(np.frombuffer(chunk, np.uint8) == 10) + offset
            seen += len(where)
            if seen > total:
                return None
            found.append(where)
            offset += len(chunk)
    if seen != total:
        return None
    breaks = np.concatenate(found) if found else np.empty(0, np.int64)
    ranges, start, last = {}, skip, 0
    for day, rows in counts.items():
        last += rows
        end = int(breaks[last - 1]) + 1 if rows else start
        ranges[day] = (start, end)
        start = end
    return ranges


def copy_range(src: Any, dst: Any, start: int, end: int) -> None:
    """Bytes [start, end) of `src` appended to `dst` (in the kernel where it can)."""
    dst.flush()
    remaining, offset = end - start, start
    while remaining > 0:
        try:
            done = os.copy_file_range(src.fileno(), dst.fileno(), remaining, offset)
        except OSError:
            done = 0
        if done <= 0:  # another file system, or an old kernel: through Python
            src.seek(offset)
            while remaining > 0:
                chunk = src.read(min(remaining, 1 << 22))
                dst.write(chunk)
                remaining -= len(chunk)
            return
        remaining -= done
        offset += done
