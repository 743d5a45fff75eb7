"""Settings of the quarantine system (a section of esteira.settings.Settings).

Every source is a block of configuration: its canal, format, location, reader options,
column mapping and quarantine days. A new channel is a new block, no code (issue 4).
Defaults follow the seed: CRM 30 days, Marketing 7, Recomendacao 15, Restritos 90,
Ofertas 5, Fraude until the record is removed at the source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from esteira.connectors.sftp import SftpSettings
from esteira.connectors.sharepoint import SharePointSettings

SourceFormat = Literal["xlsx", "csv", "parquet", "json", "delta"]
TARGET_COLUMNS = ("id_cliente", "email", "telefone", "assunto", "data_envio")


class SourceSettings(BaseModel):
    """One source of contacts: where it is, how to read it, how its columns map."""

    model_config = ConfigDict(extra="forbid")

    canal: str = Field(min_length=1)
    format: SourceFormat
    location: str = Field(
        description="local path (relative to sources_dir), s3://bucket/prefix, "
        "sftp://host[:port]/path, or sharepoint://host/sites/<site>/<server-relative file>"
    )
    options: dict[str, str] = Field(
        default_factory=dict, description="reader options: delimiter, encoding, sheet, ..."
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="target column -> source column (dotted for nested JSON); "
        "unmapped targets use their own name",
    )
    days: int | None = Field(40, ge=1, description="None: until removed at the source")
    assunto: str | None = Field(None, description="fixed subject when the source has none")
    snapshot_column: str | None = Field(
        None, description="only rows whose snapshot date equals the load date count"
    )
    removal_column: str | None = Field(
        None, description="date the record was removed at the source (Fraude: data_exclus)"
    )

    @field_validator("columns")
    @classmethod
    def _known_targets(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(TARGET_COLUMNS))
        if unknown:
            raise ValueError(f"unknown target column(s) {unknown}; use {list(TARGET_COLUMNS)}")
        return value

    def source_column(self, target: str) -> str | None:
        """The source column for a target; None when a fixed assunto replaces it."""
        if target == "assunto" and self.assunto is not None and target not in self.columns:
            return None
        return self.columns.get(target, target)

    def required_columns(self) -> list[str]:
        cols = [c for t in TARGET_COLUMNS if (c := self.source_column(t)) is not None]
        cols += [c for c in (self.snapshot_column, self.removal_column) if c]
        return cols


def _default_sources() -> dict[str, SourceSettings]:
    """The six channels of the seed. Written here only: a config file names what it changes."""
    return {
        "crm": SourceSettings(
            canal="CRM",
            format="xlsx",
            location="crm/crm_data.xlsx",
            days=30,
            snapshot_column="data_base",
        ),
        "marketing": SourceSettings(
            canal="Marketing",
            format="csv",
            location="marketing/marketing_data.csv",
            days=7,
            options={"delimiter": ";", "encoding": "UTF-8"},
            columns={"assunto": "subject"},
        ),
        "recomendacao": SourceSettings(
            canal="Recomendacao", format="parquet", location="recomendacao", days=15
        ),
        "restritos": SourceSettings(
            canal="Restritos",
            format="json",
            location="restritos",
            days=90,
            columns={
                "email": "contatos.email",
                "telefone": "contatos.numero_telefone",
                "data_envio": "contatos.data_solicitacao",
                "assunto": "motivos.descricao",
            },
        ),
        "ofertas": SourceSettings(canal="Ofertas", format="delta", location="ofertas", days=5),
        "fraude": SourceSettings(
            canal="Fraude",
            format="delta",
            location="fraude",
            days=None,
            columns={"data_envio": "dt_inclus"},
            assunto="Suspeita de fraude",
            removal_column="data_exclus",
        ),
    }


class QuarantineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources_dir: Path = Field(
        Path(".esteira/demo/quarantine"), description="base of relative source locations"
    )
    sources: dict[str, SourceSettings] = Field(default_factory=_default_sources)
    table: Path = Field(Path(".esteira/lake/quarentena_global"), description="Delta table")
    rejects: Path = Field(Path(".esteira/lake/quarentena_rejeitados"), description="Delta table")
    staging: Path = Field(
        Path(".esteira/staging/quarantine"),
        description="root of a run's StagingArea (the checked contacts and the quarantine, "
        "as Parquet); removed when the run ends",
    )
    downloads: Path = Field(
        Path(".esteira/downloads/quarantine"),
        description="local copies of the sources the engine cannot read where they are "
        "(remote downloads, UTF-8 re-encodings, xlsx as Parquet); one folder per run, "
        "removed when the run ends",
    )
    all_channel_canais: list[str] = Field(
        default_factory=lambda: ["Fraude", "Restritos"],
        description="filter policy: quarantine on these canais suppresses every channel",
    )
    s3_native: Literal["auto", "always", "never"] = Field(
        "auto",
        description="auto: the engine reads S3 in place when it can (Sail s3://; JVM Spark "
        "s3a:// with the hadoop-aws jar), else downloads; always: in place; never: download",
    )
    sftp: SftpSettings = Field(default_factory=SftpSettings)
    sharepoint: SharePointSettings = Field(default_factory=SharePointSettings)

    @model_validator(mode="before")
    @classmethod
    def _merge_sources(cls, data: Any) -> Any:
        """Configured sources are merged onto the defaults: a new key adds a channel, a
        known key changes only the fields it names, `null` removes a source."""
        if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
            return data
        merged: dict[str, Any] = {
            k: v.model_dump(exclude_unset=True) for k, v in _default_sources().items()
        }
        for key, value in data["sources"].items():
            if value is None:
                merged.pop(key, None)
            elif isinstance(value, dict) and key in merged:
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        return {**data, "sources": merged}

    def resolve(self, source: SourceSettings) -> str:
        """Absolute location: remote URLs as they are, local paths under sources_dir."""
        if "://" in source.location:
            return source.location
        path = Path(source.location)
        return str(path if path.is_absolute() else self.sources_dir / path)
