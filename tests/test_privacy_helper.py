"""tests/privacy.py reads every channel it claims to: a check of the checker.

The JVM's log4j output does not pass through this process's stdout/stderr (the JVM is a
child process with descriptors of its own), so the helper reads the JVM's descriptors
through /proc. Here the JVM writes a canary to its own stderr and the helper must find it.
"""

from __future__ import annotations

import pytest

from canaries import SENTENCE, leaks
from privacy import Gatherer, Outputs, _JvmOutput


def test_the_jvm_channel_is_read(engine: str, spark) -> None:
    if engine != "spark":
        pytest.skip("Sail runs in this process: its output is captured with capfd")
    jvm = _JvmOutput.find()
    assert jvm is not None, "the JVM of this session was not found"
    spark._jvm.java.lang.System.err.println(f"probe: {SENTENCE}")
    spark._jvm.java.lang.System.err.flush()
    assert SENTENCE in jvm.read()


def test_a_canary_in_any_channel_fails_the_check() -> None:
    for channel in ("stdout", "stderr", "jvm"):
        outputs = Outputs(argv=["x"], code=0, stdout="", stderr="")
        setattr(outputs, channel, f"ok {SENTENCE.upper()}")
        with pytest.raises(AssertionError, match="personal data leaked"):
            outputs.assert_clean()
    record = Outputs(argv=["x"], code=0, stdout="", stderr="", runlog=[{"error": SENTENCE}])
    with pytest.raises(AssertionError, match="run log"):
        record.assert_clean()
    assert leaks("529 982 247 25") and not leaks("row 3, column cpf")


def test_run_gathers_the_run_log_lines_of_its_command(
    engine: str, capfd: pytest.CaptureFixture[str], tmp_path
) -> None:
    result = Gatherer(engine, capfd).run(
        "invoices", "averages", "--input", tmp_path / "nowhere.csv", "--out", tmp_path / "o.csv"
    )
    result.expect_error(2, "nowhere.csv", "does not exist")
    assert [r["pipeline"] for r in result.runlog] == ["invoices.averages"]
    assert result.runlog[0]["status"] == "failed"
