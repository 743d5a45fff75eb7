"""The default sources live in quarantine/config.py only; a config file changes them."""

from __future__ import annotations

from esteira.quarantine.config import QuarantineSettings


def test_defaults_are_the_seed_channels_without_any_config_file():
    sources = QuarantineSettings().sources
    assert {s.canal: (s.format, s.days) for s in sources.values()} == {
        "CRM": ("xlsx", 30),
        "Marketing": ("csv", 7),
        "Recomendacao": ("parquet", 15),
        "Restritos": ("json", 90),
        "Ofertas": ("delta", 5),
        "Fraude": ("delta", None),
    }
    assert sources["crm"].snapshot_column == "data_base"
    assert sources["marketing"].columns == {"assunto": "subject"}
    assert sources["fraude"].removal_column == "data_exclus"


def test_configured_sources_merge_onto_the_defaults():
    qs = QuarantineSettings.model_validate(
        {
            "sources": {
                "marketing": {"days": 10},  # only the named field changes
                "crm": None,  # removed
                "sms": {"canal": "SMS", "format": "csv", "location": "sms.csv"},
            }
        }
    )
    assert "crm" not in qs.sources
    assert (qs.sources["marketing"].days, qs.sources["marketing"].format) == (10, "csv")
    assert qs.sources["marketing"].columns == {"assunto": "subject"}
    assert qs.sources["sms"].days == 40
    assert len(qs.sources) == 6


def test_staging_and_downloads_are_separate_folders():
    qs = QuarantineSettings()
    assert qs.staging != qs.downloads
