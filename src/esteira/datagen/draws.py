"""Seeded random draws as columns, the same on every engine and every run.

Not F.rand(seed): Sail restarts its sequence in every batch (8,192 rows), so a column
drawn with it repeats itself; a hash of the row id does not.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

_PRIME = 1_000_000_007


def uniform(seed: int, *salt: int, row_id: str = "id") -> Column:
    """A uniform [0, 1) value per row of `row_id` (session.range's id), one stream per
    (seed, salt...): draws with different salts are independent."""
    h = F.xxhash64(F.col(row_id), F.lit(seed), *[F.lit(s) for s in salt])
    return F.pmod(h, F.lit(_PRIME)).cast("double") / F.lit(float(_PRIME))
