"""The `esteira` command: one sub-app per system, added with add_typer."""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from esteira import alerts, cli_common
from esteira.billing.cli import billing_command
from esteira.chatbot.cli import app as chatbot_app
from esteira.datagen.cli import app as datagen_app
from esteira.errors import EsteiraError
from esteira.invoices.cli import app as invoices_app
from esteira.locations import refuse_in_argv
from esteira.logs import console, setup_logging
from esteira.notifications.cli import app as notifications_app
from esteira.orchestrate.cli import app as run_app
from esteira.orders.cli import app as orders_app
from esteira.portfolio.cli import app as portfolio_app
from esteira.quarantine.cli import app as quarantine_app
from esteira.runlog import runs_command
from esteira.services.cli import app as services_app
from esteira.warehouse.cli import app as warehouse_app
from esteira.web.cli import serve_command

app = typer.Typer(
    name="esteira",
    help="esteira: the company's data pipelines on PySpark (Sail embedded, or JVM Spark).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(portfolio_app, name="portfolio", help="Client-portfolio distribution (carteira).")
app.add_typer(quarantine_app, name="quarantine", help="Contact quarantine (quarentena global).")
app.add_typer(notifications_app, name="notifications", help="WhatsApp notification usage.")
notifications_app.command("billing")(billing_command)
app.add_typer(invoices_app, name="invoices", help="Invoice averages over the last N months.")
app.add_typer(chatbot_app, name="chatbot", help="Chatbot answers per session.")
app.add_typer(orders_app, name="orders", help="E-commerce orders: Kafka -> PostgreSQL.")
app.add_typer(run_app, name="run", help="Run the batch systems of a day, in order.")
app.add_typer(services_app, name="services", help="Local Kafka, PostgreSQL and a Spark cluster.")
app.add_typer(warehouse_app, name="warehouse", help="SiCooperative card-movement warehouse.")
app.add_typer(datagen_app, name="datagen", help="Synthetic data for demos, tests, benchmarks.")
app.command("runs", help="List recent pipeline runs from the run log.")(runs_command)
app.command("serve", help="The notification dashboard (web, read-only).")(serve_command)


@app.command("config")
def config_command(
    section: Annotated[str | None, typer.Argument(help="one section, e.g. quarantine")] = None,
) -> None:
    """Print the settings in effect (code defaults, conf/esteira.yaml, environment, flags)
    as YAML; secrets are masked."""
    import yaml

    values = cli_common.settings().model_dump(mode="json")
    if section is not None:
        if section not in values:
            raise EsteiraError(f"no settings section {section!r}; one of {', '.join(values)}")
        values = {section: values[section]}
    typer.echo(yaml.safe_dump(values, sort_keys=False, allow_unicode=True), nl=False)


@app.callback()
def root(
    engine: Annotated[
        str | None, typer.Option(help="sail (embedded, default) or spark (JVM)")
    ] = None,
    master: Annotated[str | None, typer.Option(help="JVM Spark master, e.g. local[*]")] = None,
    remote: Annotated[str | None, typer.Option(help="Spark Connect URL, e.g. sc://h:15002")] = None,
    log_format: Annotated[str, typer.Option(help="text or json")] = "text",
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING, ERROR")] = None,
) -> None:
    if log_format not in ("text", "json"):
        raise EsteiraError(f"--log-format must be text or json, not {log_format!r}")
    cli_common.set_overrides(engine=engine, master=master, remote=remote, log_level=log_level)
    setup_logging(cli_common.settings().log_level, log_format)
    alerts.configure(cli_common.settings().alerts)


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI and returns its exit status; expected errors become one line."""
    try:
        refuse_in_argv(sys.argv[1:] if argv is None else argv)
        app(args=argv, prog_name="esteira")  # standalone: usage errors print and exit 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except EsteiraError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("[red]aborted[/]")
        return 130
    except Exception as exc:
        _report_bug(exc)
        return 1
    return 0


def _report_bug(exc: Exception) -> None:
    """An unexpected failure: its class and where it happened, never its text (an engine's
    message can quote a value, e.g. a cast that failed); the traceback only at DEBUG."""
    log = logging.getLogger("esteira")
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/esteira/" in f.filename] or frames
    where = f" at {Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else ""
    log.error(
        "unexpected failure (a bug: please report it): %s%s; rerun with --log-level DEBUG "
        "for the traceback",
        type(exc).__name__,
        where,
    )
    log.debug("traceback", exc_info=exc)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
