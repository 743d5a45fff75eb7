"""The one place that builds SparkSessions: embedded Sail (default) or JVM Spark.

- sail: pysail's Spark Connect server started in this process (no JVM); the session
  talks to it over Spark Connect on loopback.
- spark: Apache Spark on the JVM, `local[*]` or any master URL, with Delta, Kafka,
  JDBC and S3A (hadoop-aws) jars from the repo's Maven step; or a Spark Connect URL (`remote`).
Pipelines receive the session; nothing else builds one.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

from pyspark.sql import SparkSession

from esteira import jvm_archive
from esteira.connectors.s3 import s3a_conf
from esteira.errors import EngineError
from esteira.settings import Settings

log = logging.getLogger(__name__)

_sail_server = None
_connect_sessions: dict[str, SparkSession] = {}
_jvm_started = False
_DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
_JAR_NAME = re.compile(r"^(?P<artifact>.+?)-\d[\w.\-]*\.jar$")


def get_session(settings: Settings) -> SparkSession:
    """Returns a session for the configured engine (reused within one process)."""
    if settings.engine == "sail":
        return _sail_session(settings)
    if settings.spark.remote:
        return _connect_session(settings.spark.remote, settings)
    return _jvm_session(settings)


def _sail_session(settings: Settings) -> SparkSession:
    global _sail_server  # noqa: PLW0603 - one embedded server per process
    os.environ.setdefault("RUST_LOG", "error")  # Sail logs session starts and stops
    try:
        from pysail.spark import SparkConnectServer
    except ImportError as exc:  # pragma: no cover - pysail is a core dependency
        raise EngineError("engine 'sail' needs pysail: pip install pysail") from exc
    if _sail_server is None:
        os.environ.setdefault("SAIL_RUNTIME__STACK_SIZE", str(8 << 20))
        server = SparkConnectServer("127.0.0.1", 0)
        server.start(background=True)
        _sail_server = server
        atexit.register(server.stop)
    _, port = _sail_server.listening_address
    return _connect_session(f"sc://127.0.0.1:{port}", settings)


def _connect_session(url: str, settings: Settings) -> SparkSession:
    """One Spark Connect session per URL.

    pyspark decides per process whether `pyspark.sql.functions` builds Connect or classic
    columns (SPARK_CONNECT_MODE_ENABLED), so a process holds Connect sessions or one JVM
    session, never both.
    """
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    if _jvm_started:
        raise EngineError("this process already runs JVM Spark; one engine per process")
    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
    session = _connect_sessions.get(url)
    if session is None or session.is_stopped:
        try:
            session = ConnectSession.builder.remote(url).create()
        except Exception as exc:
            raise EngineError(f"cannot reach the Spark Connect server at {url}: {exc}") from None
        _connect_sessions[url] = session
    _apply_conf(session, settings)
    return session  # type: ignore[return-value]


def _apply_conf(session: SparkSession, settings: Settings) -> None:
    session.conf.set("spark.sql.session.timeZone", "UTC")
    session.conf.set("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
    for key, value in settings.spark.conf.items():
        try:
            session.conf.set(key, value)
        except Exception:  # static confs cannot be changed on a running server
            log.debug("could not set %s on this engine", key)


def connector_jars(jars_dir: Path) -> list[Path]:
    """Jars from the Maven cache that the pyspark wheel does not already ship.

    Maven resolves transitive dependencies too; a library Spark already has (Jackson,
    Parquet, log4j, ...) is left out so that two versions never share a classpath.
    """
    folder = jars_dir / "spark"
    if not folder.is_dir():
        raise EngineError(
            f"the JVM connector jars are not in {folder}; run `make jars` "
            "(mvn -P spark-jars dependency:copy-dependencies)"
        )
    import pyspark

    shipped = {_artifact(p.name) for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    return sorted(p for p in folder.glob("*.jar") if _artifact(p.name) not in shipped)


def local_fs_conf(master: str, jars: list[Path]) -> dict[str, str]:
    """file:// without a child process per file, in local mode.

    Without Hadoop's native library (not on Maven Central) its local file system runs
    `chmod` in a child process for every file it creates and `readlink` for every
    rename: parquet files, Delta's log, each streaming checkpoint file. Forking a
    multi-GB JVM dozens of times a second takes a visible share of a 2-core machine
    (bench/notifications_stream.py: batches of about 8 s instead of 9-10.5 s).
    BareLocalFileSystem does the same through java.nio; it must be on the JVM's own
    class path (Spark reads its jars through the file system it replaces), and the
    streaming checkpoints go through the FileSystem API so that they use it too.
    Only for `local[...]`: a cluster's executors have their own file systems.
    """
    bare = next((j for j in jars if j.name.startswith("hadoop-bare-naked-local-fs-")), None)
    if bare is None or not master.startswith("local"):
        return {}
    return {
        "spark.driver.extraClassPath": str(bare.resolve()),
        "spark.hadoop.fs.file.impl": "com.globalmentor.apache.hadoop.fs.BareLocalFileSystem",
        "spark.sql.streaming.checkpointFileManagerClass":
            "org.apache.spark.sql.execution.streaming.checkpointing."
            "FileSystemBasedCheckpointFileManager",
    }


def loopback_driver_conf(master: str) -> dict[str, str]:
    """A driver on loopback when the cluster is (`esteira services cluster`).

    Spark otherwise binds the driver to the host's network address (Utils warns "your
    hostname resolves to a loopback address; using <eth0 address> instead"), which
    would open the driver's ports to the network and make executors on 127.0.0.1
    depend on it.
    """
    host = urlsplit(master).hostname if master.startswith("spark://") else None
    if host not in ("127.0.0.1", "localhost"):
        return {}
    return {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}


def submitted_conf() -> dict[str, str] | None:
    """The configuration of the spark-submit line that launched this process, else None.

    spark-submit (YARN, Kubernetes, a standalone cluster) starts the JVM first and hands
    Python its gateway in PYSPARK_GATEWAY_PORT; the line's --master, --jars, --packages
    and --conf are then the JVM's system properties.
    """
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return None
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # connects to spark-submit's JVM
    return dict(SparkConf().getAll())


def unsubmitted(conf: dict[str, str], submitted: dict[str, str] | None) -> dict[str, str]:
    """esteira's settings, less those a spark-submit line already gives: its --master,
    --jars, --driver-memory and --conf win (the platform knows its cluster)."""
    if submitted is None:
        return conf
    return {k: v for k, v in conf.items() if k not in submitted and k != "spark.jars"}


def _artifact(jar_name: str) -> str:
    match = _JAR_NAME.match(jar_name)
    return match.group("artifact") if match else jar_name


def _jvm_session(settings: Settings) -> SparkSession:
    global _jvm_started  # noqa: PLW0603
    if _connect_sessions:
        raise EngineError("this process already runs a Spark Connect engine; one per process")
    # Inherited from a parent process that ran Connect sessions: not true of this one.
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
    submitted = submitted_conf()
    master = (submitted or {}).get("spark.master", settings.spark.master)
    # Under spark-submit its line brings the connectors (--jars / --packages / the image).
    jars = [] if submitted is not None else connector_jars(settings.jars_dir)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    warehouse = (settings.home / "warehouse").resolve()
    conf = {
        "spark.master": master,
        "spark.app.name": "esteira",
        "spark.jars": ",".join(str(j.resolve()) for j in jars),
        "spark.driver.memory": settings.spark.driver_memory,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": _DELTA_CATALOG,
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.log.level": "ERROR",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.driver.extraJavaOptions": " ".join(filter(None, [
            f"-Dderby.system.home={warehouse}",
            "" if submitted is not None else jvm_archive.java_options(settings),
            settings.spark.java_options,
        ])),
        **local_fs_conf(master, jars),
        **loopback_driver_conf(master),
        # s3a:// (hadoop-aws) from the AWS_* environment
        **{f"spark.hadoop.{key}": value for key, value in s3a_conf().items()},
        **settings.spark.conf,
    }
    builder = SparkSession.builder
    for key, value in unsubmitted(conf, submitted).items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise EngineError(f"JVM Spark did not start ({master}): {exc}") from None
    _jvm_started = True
    return session
