"""The `run` settings section: which steps `esteira run all` runs, in order, and their inputs.

Each step is an `esteira` command line (without the global options) whose arguments may
name `{date}` (the run date, AAAA-MM-DD), `{date-N}` (N days before it), `{month}` (its
AAAA-MM), `{data}` (run.data_dir, default <home>/demo: the layout `make demo` writes) and
`{home}`. The defaults below are
that demo layout; a deployment points them at its own locations in conf/esteira.yaml:

    run:
      data_dir: /lake/landing
      steps:
        chatbot:
          command: [chatbot, answers, --input, "{data}/chatbot", --date, "{date}",
                    --out, /lake/chatbot]
        portfolio: {enabled: false}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StepSettings(BaseModel):
    """One step: the command, the steps whose success it needs, whether it runs."""

    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(min_length=1, description="`esteira` arguments, e.g. "
                               "[quarantine, build, --date, '{date}']")
    after: list[str] = Field(default_factory=list, description="steps that must succeed first")
    enabled: bool = True


def _default_steps() -> dict[str, StepSettings]:
    """Dependency order of issue 17: warehouse, quarantine, portfolio, invoices, chatbot,
    the daily bill. None reads another's output today, so none waits on another's
    success (`after` is empty): a failed system does not stop the next."""
    d = "{data}"
    steps: dict[str, list[str]] = {
        "warehouse": ["warehouse", "run", "--date", "{date}"],
        "quarantine": ["quarantine", "build", "--date", "{date}", "--sources", f"{d}/quarantine"],
        "portfolio": ["portfolio", "assign", "--clients", f"{d}/portfolio/clients",
                      "--managers", f"{d}/portfolio/managers", "--out", f"{d}/portfolio/out"],
        "invoices": ["invoices", "averages", "--input", f"{d}/invoices/in",
                     "--out", f"{d}/invoices/averages.csv"],
        "chatbot": ["chatbot", "answers", "--input", f"{d}/chatbot/lake",
                    "--out", f"{d}/chatbot/out"],
        # yesterday's bill: a draft until billing.grace_hours after the day, then final
        "billing": ["notifications", "billing", "--date", "{date-1}"],
    }
    return {name: StepSettings(command=command) for name, command in steps.items()}


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_dir: Path | None = Field(None, description="`{data}` in step commands; "
                                  "default <home>/demo")
    steps: dict[str, StepSettings] = Field(default_factory=_default_steps)

    @model_validator(mode="before")
    @classmethod
    def _merge_steps(cls, data: Any) -> Any:
        """Configured steps are merged onto the defaults: a known name changes only the
        fields it gives, a new name adds a step at the end, `null` removes a step."""
        if not isinstance(data, dict) or not isinstance(data.get("steps"), dict):
            return data
        merged: dict[str, Any] = {
            k: v.model_dump() for k, v in _default_steps().items()
        }
        for name, value in data["steps"].items():
            if value is None:
                merged.pop(name, None)
            elif isinstance(value, dict) and name in merged:
                merged[name] = {**merged[name], **value}
            else:
                merged[name] = value
        return {**data, "steps": merged}

    def folder(self, home: Path) -> Path:
        return self.data_dir if self.data_dir is not None else home / "demo"
