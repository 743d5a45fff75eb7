"""xlsx files through calamine (Rust), converted to Parquet for the engine to read.

Neither engine reads xlsx, and openpyxl row by row is far too slow for 500,000 rows, so
a sheet is read at once by python-calamine and written as one Parquet file of text
columns (like CSV, nothing is inferred: pipelines cast explicitly). Whole numbers keep
no '.0' (ids stored as numbers), dates become ISO text.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from esteira.errors import InputError


def _calamine() -> Any:
    try:
        import python_calamine
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise InputError(
            "xlsx", "reading xlsx needs python-calamine: pip install python-calamine"
        ) from exc
    return python_calamine


def sheet_names(path: Path, name: str | None = None) -> list[str]:
    workbook = _open(path, name or str(path))
    return list(workbook.sheet_names)


def _open(path: Path, label: str) -> Any:
    if not path.is_file():
        raise InputError(label, f"file {path} does not exist")
    try:
        return _calamine().CalamineWorkbook.from_path(str(path))
    except Exception as exc:
        raise InputError(
            label, f"{path.name} is not a readable xlsx file ({type(exc).__name__})"
        ) from None


def _text(value: Any) -> str | None:
    """One cell as text: None for empty, '1234567890' for 1234567890.0, ISO for dates."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value).strip() or None


def xlsx_to_parquet(
    path: Path, out: Path, *, sheet: str | None = None, name: str | None = None
) -> Path:
    """Writes one sheet (the first when `sheet` is None) to `out` as Parquet; returns `out`.

    The first row is the header. A missing sheet is an InputError naming the source and
    listing the sheets that exist.
    """
    label = name or str(path)
    workbook = _open(path, label)
    names = list(workbook.sheet_names)
    if sheet is not None and sheet not in names:
        raise InputError(
            label, f"sheet {sheet!r} does not exist in {path.name}; sheets: {', '.join(names)}"
        )
    if not names:
        raise InputError(label, f"{path.name} has no sheets")
    rows = workbook.get_sheet_by_name(sheet or names[0]).to_python(skip_empty_area=False)
    if not rows:
        raise InputError(label, f"sheet {sheet or names[0]!r} is empty (no header row)")
    header = [_text(h) or f"coluna_{i + 1}" for i, h in enumerate(rows[0])]
    body = rows[1:]
    columns = {
        h: pa.array([_text(r[i]) if i < len(r) else None for r in body], pa.string())
        for i, h in enumerate(header)
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), out)
    return out
