"""esteira's daily run in Apache Airflow: one task per batch system, then the daily bill.

Every task calls the `esteira` command (nothing here imports esteira: Airflow lives in a
virtualenv of its own, see deploy/airflow/requirements.lock), through `esteira run step
NAME --date D`, so a task runs exactly what `esteira run all` runs for that step, with
the inputs of the `run:` settings section.

- The batch systems run one after another in run all's order (warehouse, quarantine,
  portfolio, invoices, chatbot); a failed one does not stop the next (trigger rule
  all_done), and each retries twice with exponential backoff (5 min, then 10 min).
  `esteira run step` exits 99 for a step this build does not have: the task is skipped.
- The notifications stream runs on its own (a service, or a Databricks continuous job);
  here a sensor polls its health (`esteira run stream-health`: records behind the
  topic's end, minutes since its last batch) before the bill.
- The daily bill of yesterday waits for its grace period to end (billing.grace_hours:
  late messages of a day still count until then) and for a healthy stream.
- A final watcher fails the DAG run when any task failed (otherwise a failed system in
  the middle would leave the run green). esteira itself posts the alerts (alerts.*).

Environment (read when the DAG is parsed):
    ESTEIRA_COMMAND       the esteira executable (default: `esteira` on PATH)
    ESTEIRA_WORKDIR       where conf/esteira.yaml and .esteira/ are (default: this repo)
    ESTEIRA_SCHEDULE      cron, in America/Sao_Paulo (default: 00:30 every day)
    ESTEIRA_BILLING_GRACE_HOURS   keep equal to billing.grace_hours (default 24)
"""

from __future__ import annotations

import os
import shlex
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.sensors.bash import BashSensor
from airflow.providers.standard.sensors.date_time import DateTimeSensor
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

TZ = "America/Sao_Paulo"
# the batch steps of `esteira run all`, in its order (tests/deploy checks they match)
BATCH_STEPS = ["warehouse", "quarantine", "portfolio", "invoices", "chatbot"]
BILLING_STEP = "billing"
SKIP_EXIT_CODE = 99  # `esteira run step` of a step this build does not have

ESTEIRA = os.environ.get("ESTEIRA_COMMAND", "esteira")
WORKDIR = os.environ.get("ESTEIRA_WORKDIR", str(Path(__file__).resolve().parents[2]))
GRACE_HOURS = float(os.environ.get("ESTEIRA_BILLING_GRACE_HOURS", "24"))


def esteira(*args: str) -> str:
    """A shell line running `esteira ARGS` in the working directory."""
    return f"cd {shlex.quote(WORKDIR)} && {shlex.quote(ESTEIRA)} " + " ".join(args)


def _fail_the_run() -> None:
    raise AirflowFailException("a task of this run failed: see its log and `esteira runs`")


with DAG(
    dag_id="esteira_daily",
    description="esteira batch systems, stream health and the daily bill",
    schedule=os.environ.get("ESTEIRA_SCHEDULE", "30 0 * * *"),
    start_date=pendulum.datetime(2024, 1, 1, tz=TZ),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(hours=1),
    },
    tags=["esteira"],
) as dag:
    previous = None
    tasks = []
    for name in BATCH_STEPS:
        task = BashOperator(
            task_id=name,
            bash_command=esteira("run", "step", name, "--date", "{{ ds }}"),
            skip_on_exit_code=SKIP_EXIT_CODE,
            trigger_rule="all_done",  # after the previous system, whatever its outcome
        )
        if previous is not None:
            previous >> task
        previous = task
        tasks.append(task)

    batch_done = EmptyOperator(task_id="batch_done", trigger_rule="all_done")
    previous >> batch_done

    grace_over = DateTimeSensor(
        task_id="billing_grace_over",
        # yesterday's bill is final `grace` hours after yesterday ended (local midnight)
        target_time="{{ (logical_date.in_timezone('" + TZ + "').start_of('day') "
        "+ macros.timedelta(hours=" + str(GRACE_HOURS) + ")).isoformat() }}",
        mode="reschedule",
        poke_interval=600,
        timeout=int((GRACE_HOURS + 6) * 3600),
        retries=0,
    )
    stream_health = BashSensor(
        task_id="stream_health",
        bash_command=esteira("run", "stream-health"),
        retry_exit_code=1,  # behind or stopped: poke again; 2 (never ran, bad config): fail
        mode="reschedule",
        poke_interval=300,
        timeout=6 * 3600,
        retries=0,
    )
    billing = BashOperator(
        task_id=BILLING_STEP,
        # the step bills the day before its --date (run.steps.billing: {date-1})
        bash_command=esteira("run", "step", BILLING_STEP, "--date", "{{ ds }}"),
        skip_on_exit_code=SKIP_EXIT_CODE,
    )
    [batch_done, grace_over, stream_health] >> billing
    tasks += [grace_over, stream_health, billing]

    watcher = PythonOperator(
        task_id="watcher", python_callable=_fail_the_run, trigger_rule="one_failed", retries=0
    )
    tasks >> watcher
