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


LINES_SLICE = 500_000  # lines taken from Arrow and written at a time


def write_sorted_lines(table: Any, out: Any) -> None:
    """`table`'s `line` values (each ending with its line break, never null) into the
    binary file `out` in (_ts, _id) order, as they lie in Arrow's buffers: no Python
    per line. The engine writes a sorted frame as several files of interleaved sorted
    runs, so the order is one sort here."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    order = pc.sort_indices(table, sort_keys=[("_ts", "ascending"), ("_id", "ascending")])
    lines = table["line"]
    if sum(c.nbytes for c in lines.chunks) < 2**31 - 1:  # one array: take is fast on it
        lines = lines.combine_chunks()  # (a chunked one: 0.65 s per 500,000 lines)
    for start in range(0, len(order), LINES_SLICE):
        taken = pc.take(lines, order[start:start + LINES_SLICE])
        for chunk in getattr(taken, "chunks", [taken]):
            if len(chunk):  # offsets, then the values one after another
                wide = pa.types.is_large_string(chunk.type)
                offsets = np.frombuffer(chunk.buffers()[1], np.int64 if wide else np.int32)
                first, end = offsets[chunk.offset], offsets[chunk.offset + len(chunk)]
                out.write(memoryview(chunk.buffers()[2])[first:end])
