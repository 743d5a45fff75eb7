"""Staging: a run's scratch copies of intermediate frames, as Parquet.

"Staging" means this one thing in esteira. A job stages a frame it uses more than once
(validated, counted, then written): the plan runs once, and every later use reads the
copy, so no engine recomputes it (Sail has no common-subplan reuse) and every source is
read exactly once. The area is a folder of its own per run, removed when the run ends,
whatever its outcome; outputs are written only from staged, checked frames.
"""

from __future__ import annotations

import shutil
import uuid
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructField, StructType

# staged frame -> its Parquet folder, while the frame lives (see parquet_copy)
_COPIES: weakref.WeakKeyDictionary[DataFrame, Path] = weakref.WeakKeyDictionary()


def parquet_copy(frame: DataFrame) -> Path | None:
    """The folder of Parquet files holding exactly `frame`'s rows, when `frame` is a
    staged copy still on disk (a reader on this machine may take the files as they are,
    instead of asking the engine to write them again); else None."""
    folder = _COPIES.get(frame)
    return folder if folder is not None and folder.is_dir() else None


class StagingArea:
    """`with StagingArea(session, root) as stage: df = stage("name", df)`.

    Each run gets root/<run id>/; the frame's schema is kept in memory, since an empty
    frame may leave no Parquet file to read it from. Snappy: the copies are written once
    and read a few times (zstd, Sail's default, was about 1.5x slower here).
    """

    def __init__(self, session: SparkSession, root: Path, run_id: str | None = None) -> None:
        self.session = session
        self.folder = Path(root) / (run_id or uuid.uuid4().hex[:12])

    def __enter__(self) -> StagingArea:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __call__(self, name: str, df: DataFrame) -> DataFrame:
        """Writes `df` once under this run's folder and returns a frame reading the copy."""
        path = self.folder / name
        schema = df.schema
        df.write.mode("overwrite").option("compression", "snappy").parquet(str(path))
        staged = self.session.read.schema(schema).parquet(str(path))
        if getattr(staged, "_cached_schema", False) is None:  # Spark Connect's client
            # (pyspark pinned) asks the server for a frame's schema on first use: 25-60 ms
            # a time on Sail, a dozen times a warehouse step; a copy's is the one it was
            # written with, every column nullable (as JVM Spark reads any file)
            staged._cached_schema = StructType(
                [StructField(f.name, f.dataType, True, f.metadata) for f in schema])
        _COPIES[staged] = path
        return staged

    def many(self, frames: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        """Several frames staged two at a time (the engine writes one while it reads the
        next one's source); as __call__ each."""
        with ThreadPoolExecutor(2, thread_name_prefix="esteira-stage") as pool:
            coming = {name: pool.submit(self, name, df) for name, df in frames.items()}
            return {name: future.result() for name, future in coming.items()}

    def remove(self) -> None:
        """Deletes this run's folder, and the root too when no other run uses it."""
        shutil.rmtree(self.folder, ignore_errors=True)
        root = self.folder.parent
        try:
            root.rmdir()
        except OSError:
            pass  # another run's area, or files a user keeps there
