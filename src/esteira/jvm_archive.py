"""A class-data sharing archive for the JVM engine's driver: a faster cold start.

A JVM session loads some 20,000 classes (Spark, Delta, Hadoop, JDBC) before its first
query; a dynamic CDS archive (JDK 13+) holds them already parsed and verified, and the
JVM maps it instead. On 4 Dec 2026 (2 cores, cold processes, interleaved, 3 each) a session
plus a small Delta write and read took 12.2 s with the archive against 18.3 s without
(the child processes' options), 16.7-18.0 s against 22.8-23.6 s (defaults).

`make setup` builds it once (`python -m esteira.jvm_archive`): a short run of the engine
with -XX:ArchiveClassesAtExit. Its name carries what it was made from (pyspark, the
jars, the venv): a changed set-up gets a new one, and an archive the JVM cannot use (a
new JDK) is ignored by the JVM itself (-Xshare:auto), its warning silenced.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

from esteira.settings import Settings, load_settings

log = logging.getLogger(__name__)
QUIET = "-Xlog:cds*=off"  # a stale archive's warning would go to the command's stdout


def archive_path(settings: Settings) -> Path:
    import pyspark

    from esteira.engine import connector_jars  # the jars on the driver's class path

    jars = [p.name for p in connector_jars(settings.jars_dir)]
    made_of = "\n".join([pyspark.__version__, sys.prefix, *jars])
    key = hashlib.sha256(made_of.encode()).hexdigest()[:12]
    return (settings.home / "jvm" / f"spark-{key}.jsa").resolve()


def java_options(settings: Settings) -> str:
    """The driver's options to map the archive; empty when there is none."""
    path = archive_path(settings)
    return f"-XX:SharedArchiveFile={path} {QUIET}" if path.is_file() else ""


def _training_run() -> None:
    """Runs in the child JVM's Python: the classes a typical job loads, then a clean exit
    (the JVM writes the archive as it exits)."""
    import tempfile

    from esteira.engine import get_session

    settings = load_settings(engine="spark", spark={"java_options": os.environ["JOPTS"]})
    session = get_session(settings)
    with tempfile.TemporaryDirectory() as folder:
        frame = session.range(2000).selectExpr("id", "id % 7 AS k", "cast(id AS string) AS s")
        frame.write.format("delta").save(f"{folder}/t")
        table = session.read.format("delta").load(f"{folder}/t")
        table.groupBy("k").count().join(table, "k").orderBy("id").limit(5).collect()
        table.write.mode("overwrite").parquet(f"{folder}/p")
        session.read.parquet(f"{folder}/p").createOrReplaceTempView("p")
        session.sql("SELECT k, sum(id) OVER (PARTITION BY k ORDER BY id) FROM p").collect()
    session.stop()


def build(settings: Settings) -> Path | None:
    """Builds the archive unless it exists; None (said so) when the run fails."""
    path = archive_path(settings)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob("spark-*.jsa*"):
        stale.unlink()
    partial = path.with_suffix(".jsa.part")
    env = {**os.environ, "JOPTS": f"-XX:ArchiveClassesAtExit={partial} {QUIET}"}
    done = subprocess.run(
        [sys.executable, "-c", "from esteira.jvm_archive import _training_run; _training_run()"],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )
    if done.returncode != 0 or not partial.is_file():
        log.warning("no JVM class-data archive (JVM sessions start without one): %s",
                    done.stderr.strip().splitlines()[-1:] or done.returncode)
        partial.unlink(missing_ok=True)
        return None
    partial.replace(path)
    return path


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(levelname)s - %(message)s")
    made = build(load_settings())
    print(made or "no archive")
