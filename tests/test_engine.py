"""Sessions: both engines run SQL and Delta; the JVM gets only jars it lacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from esteira import jvm_archive
from esteira.engine import connector_jars, local_fs_conf, loopback_driver_conf, unsubmitted
from esteira.errors import EngineError
from esteira.settings import load_settings


def test_session_runs_sql_and_delta_round_trip(spark, tmp_path):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    path = str(tmp_path / "t")
    spark.range(5).write.format("delta").save(path)
    spark.range(5, 8).write.format("delta").mode("append").save(path)
    assert spark.read.format("delta").load(path).count() == 8
    assert spark.read.format("delta").option("versionAsOf", 0).load(path).count() == 5


def test_connector_jars_skip_what_pyspark_ships(tmp_path: Path):
    folder = tmp_path / "jars" / "spark"
    folder.mkdir(parents=True)
    for name in ("delta-spark_2.13-4.2.0.jar", "jackson-core-2.13.5.jar", "postgresql-42.7.8.jar"):
        (folder / name).touch()
    names = [p.name for p in connector_jars(tmp_path / "jars")]
    assert names == ["delta-spark_2.13-4.2.0.jar", "postgresql-42.7.8.jar"]


def test_local_mode_writes_files_through_java_nio(engine: str, spark) -> None:
    """Hadoop's own local file system forks `chmod`/`readlink` per file (no native lib)."""
    if engine != "spark":
        pytest.skip("a JVM setting")
    bare = "com.globalmentor.apache.hadoop.fs.BareLocalFileSystem"
    assert spark.conf.get("spark.hadoop.fs.file.impl") == bare
    assert spark.conf.get("spark.sql.streaming.checkpointFileManagerClass").endswith(
        "FileSystemBasedCheckpointFileManager")


def test_java_options_from_settings_reach_the_driver_jvm(engine: str, tmp_path: Path) -> None:
    """spark.java_options (the suite sets them for its child processes: tests/conftest.py)
    beside esteira's own -D, in a JVM of its own: its GC says which collector runs."""
    if engine != "spark":
        pytest.skip("a JVM setting")
    script = (
        "from esteira.engine import get_session\n"
        "from esteira.settings import load_settings\n"
        "s = get_session(load_settings(engine='spark'))\n"
        "print(s.conf.get('spark.driver.extraJavaOptions'))\n"
        "print(s.sql(\"SELECT reflect('java.lang.System', 'getProperty', "
        "'derby.system.home')\").collect()[0][0])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_CONNECT")}
    env["ESTEIRA_HOME"] = str(Path(__file__).resolve().parents[1] / ".esteira")
    env["ESTEIRA_SPARK__JAVA_OPTIONS"] = "-XX:+UseSerialGC -Desteira.probe=1"
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    options, derby = out.strip().splitlines()[-2:]
    assert "-XX:+UseSerialGC" in options.split() and "-Desteira.probe=1" in options.split()
    assert derby.endswith("warehouse")  # esteira's own -D reached the JVM beside them


def test_the_nio_file_system_is_for_local_mode_only(tmp_path: Path):
    jar = tmp_path / "hadoop-bare-naked-local-fs-0.1.0.jar"
    jar.touch()
    assert local_fs_conf("local[*]", [jar])["spark.driver.extraClassPath"] == str(jar)
    assert local_fs_conf("spark://cluster:7077", [jar]) == {}
    assert local_fs_conf("local[2]", []) == {}


def test_a_driver_for_a_loopback_cluster_stays_on_loopback():
    """esteira services cluster listens on 127.0.0.1 only; its jobs' drivers must too."""
    loopback = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    assert loopback_driver_conf("spark://127.0.0.1:7077") == loopback
    assert loopback_driver_conf("spark://localhost:7077") == loopback
    assert loopback_driver_conf("spark://spark-master.internal:7077") == {}
    assert loopback_driver_conf("local[*]") == {}
    assert loopback_driver_conf("yarn") == {}


def test_a_spark_submit_line_wins_over_esteiras_defaults():
    ours = {"spark.master": "local[*]", "spark.jars": "/a.jar", "spark.ui.enabled": "false",
            "spark.sql.session.timeZone": "UTC"}
    assert unsubmitted(ours, None) == ours
    submitted = {"spark.master": "yarn", "spark.ui.enabled": "true"}
    assert unsubmitted(ours, submitted) == {"spark.sql.session.timeZone": "UTC"}


def test_missing_jar_cache_says_how_to_fetch(tmp_path: Path):
    with pytest.raises(EngineError, match="make jars"):
        connector_jars(tmp_path)


def test_remote_spark_connect_url_runs_a_job(tmp_path: Path):
    """--remote talks to any Spark Connect server; a separate Sail server stands in here."""
    import subprocess
    import sys

    from pysail.spark import SparkConnectServer

    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    try:
        _, port = server.listening_address
        out = tmp_path / "gen"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "esteira.cli",
                "--engine",
                "spark",
                "--remote",
                f"sc://127.0.0.1:{port}",
                "datagen",
                "portfolio",
                "--out",
                str(out),
                "--clients",
                "100",
                "--managers",
                "5",
                "--keys",
                "3",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert (out / "clients" / "_delta_log").is_dir()
    finally:
        server.stop()


_PROBE = (
    "from esteira.engine import get_session\n"
    "from esteira.settings import load_settings\n"
    "print(get_session(load_settings(engine='spark')).range(5).count())\n"
)


def _probe(tmp_path: Path, home: Path, java_options: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_CONNECT")}
    env.update(ESTEIRA_HOME=str(home), ESTEIRA_SPARK__JAVA_OPTIONS=java_options)
    return subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, check=False)


def test_the_driver_jvm_maps_the_class_data_archive_and_ignores_a_broken_one(
    engine: str, tmp_path: Path
) -> None:
    """`make setup` built the archive: a new driver JVM maps it (the JVM's own cds log
    says so). An archive the JVM cannot use costs nothing but the speed: same result,
    nothing on stdout but the command's."""
    if engine != "spark":
        pytest.skip("a JVM setting")
    home = Path(__file__).resolve().parents[1] / ".esteira"
    archive = jvm_archive.archive_path(load_settings(home=home))
    assert archive.is_file(), "make setup builds it: python -m esteira.jvm_archive"
    cds_log = tmp_path / "cds.log"
    done = _probe(tmp_path, home, f"-Xlog:cds=info:file={cds_log}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "5\n"
    text = cds_log.read_text()
    assert f"Opened archive {archive}." in text and "Mapped dynamic region" in text

    broken_home = tmp_path / "home"
    (broken_home / "jars").mkdir(parents=True)
    (broken_home / "jars" / "spark").symlink_to(home / "jars" / "spark")
    broken = jvm_archive.archive_path(load_settings(home=broken_home))
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not an archive" * 100)
    done = _probe(tmp_path, broken_home, "")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "5\n"
