"""`esteira services up|down|status`: the local Kafka broker and PostgreSQL server."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from esteira import cli_common
from esteira.errors import ConfigError
from esteira.logs import step

app = typer.Typer(help="Local Kafka and PostgreSQL.", no_args_is_help=True)


class Service(StrEnum):
    kafka = "kafka"
    postgres = "postgres"


Names = Annotated[
    list[Service] | None, typer.Argument(help="kafka and/or postgres (default: both)")
]


def _modules(names: list[Service] | None):
    from esteira.services import kafka, postgres

    chosen = names or list(Service)
    return [{Service.kafka: kafka, Service.postgres: postgres}[n] for n in chosen]


@app.command("up")
def up(
    names: Names = None,
    record: Annotated[
        Path | None,
        typer.Option(help="add the services this command starts to this file (JSON list)"),
    ] = None,
) -> None:
    """Start the services (a no-op for those already running); wait until they answer."""
    started = _each(names, "Starting", "up")
    if record is not None:
        _record(record, started)


@app.command("down")
def down(
    names: Names = None,
    only_started: Annotated[
        Path | None,
        typer.Option(help="stop only the services an `up --record FILE` started (FILE removed)"),
    ] = None,
) -> None:
    """Stop the local services cleanly; their data stays for the next `up`."""
    if only_started is None:
        _each(names, "Stopping", "down")
        return
    recorded = set(_recorded(only_started))
    chosen = [n for n in (names or list(Service)) if n.value in recorded]
    for left in sorted(set(map(str, names or list(Service))) - recorded):
        typer.echo(f"{left}: left as it was (not started by the recorded `up`)")
    if chosen:
        _each(chosen, "Stopping", "down")
    only_started.unlink(missing_ok=True)


def _each(names: list[Service] | None, doing: str, action: str) -> list[str]:
    """Runs `up` or `down` of each chosen service and prints what it found; returns the
    services that were not running before and are now (started by this call)."""
    settings = cli_common.settings()
    started = []
    for module in _modules(names):
        was_running = action == "up" and module.status(settings).running
        with step(f"{doing} {module.NAME}"):
            found = getattr(module, action)(settings)
        typer.echo(found.describe() + "".join(f" ({note})" for note in found.notes))
        if action == "up" and found.running and not found.external:
            typer.echo(f"  log: {found.log_file}")
            if not was_running:
                started.append(module.NAME)
    return started


def _recorded(path: Path) -> list[str]:
    """The services a recorded `up` started ([] when there is no such file)."""
    try:
        return list(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return []
    except (ValueError, TypeError):
        raise ConfigError(f"{path}: not a list of services written by `up --record`") from None


def _record(path: Path, started: list[str]) -> None:
    """Adds `started` to the file (kept across several `up --record` calls)."""
    names = sorted(set(_recorded(path)) | set(started))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(names) + "\n", encoding="utf-8")


@app.command("status")
def status(names: Names = None) -> None:
    """Show each service's pid, port, version and data directory (or that it is not running)."""
    settings = cli_common.settings()
    for module in _modules(names):
        typer.echo(module.status(settings).describe())


cluster_app = typer.Typer(
    help="The local Spark cluster: a standalone master, its workers and a Spark Connect "
    "server, on loopback.",
    no_args_is_help=True,
)
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("up")
def cluster_up() -> None:
    """Start the master, the workers and the Connect server (a no-op when they run);
    print the --master and --remote addresses to use."""
    from esteira.services import cluster

    with step("Starting the Spark cluster"):
        found = cluster.up(cli_common.settings())
    typer.echo(found.describe() + "".join(f" ({note})" for note in found.notes))
    typer.echo(f"  esteira --engine spark --master {found.master_url} ...")
    typer.echo(f"  esteira --engine spark --remote {found.connect_url} ...")
    typer.echo(f"  logs: {found.log_file.parent}/cluster-*.log")


@cluster_app.command("down")
def cluster_down() -> None:
    """Stop the Connect server, the workers (with their executors) and the master."""
    from esteira.services import cluster

    with step("Stopping the Spark cluster"):
        typer.echo(cluster.down(cli_common.settings()).describe())


@cluster_app.command("status")
def cluster_status() -> None:
    """Show the master and Connect addresses, pids and workers (or that it is not running)."""
    from esteira.services import cluster

    typer.echo(cluster.status(cli_common.settings()).describe())
