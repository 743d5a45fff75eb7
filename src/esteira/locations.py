"""Object-store URLs where esteira expects a file path, refused with a clear line.

Command options and config fields that name outputs and tables are file paths (on a
cluster: a shared file system mounted at the same place on every node). Python's Path
turns `s3a://bucket/x` into `s3a:/bucket/x`, so an object-store URL given there would
quietly become a local folder named `s3a:`; these checks stop that before any work.
Quarantine sources (`quarantine.sources.*.location`) are strings and do take URLs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from esteira.errors import ConfigError

OBJECT_STORE = re.compile(r"^(s3|s3a|s3n|gs|gcs|abfs|abfss|wasb|wasbs|hdfs|dbfs|oss):/", re.I)
_MANGLED = re.compile(r"^[a-z][a-z0-9+.-]*:$", re.I)  # a Path's first part, once a URL
HINT = ("object-store URLs are not supported there yet: use a path on a shared file system "
        "mounted at the same place on every node (docs/cluster.md)")


def refuse_in_argv(argv: Sequence[str]) -> None:
    """A command-line value that is an object-store URL, named by its option."""
    for i, token in enumerate(argv):
        if token.startswith("--") and "=" in token:
            option, value = token.split("=", 1)
        else:
            option, value = (argv[i - 1] if i and argv[i - 1].startswith("-") else "", token)
        if OBJECT_STORE.match(value):
            raise ConfigError(f"{option or 'an argument'}: {HINT}")


def refuse_in_settings(model: BaseModel, prefix: str = "") -> None:
    """A Path field of the settings that was given as a URL, named by its dotted key."""
    for name in type(model).model_fields:
        value: Any = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            refuse_in_settings(value, f"{key}.")
        elif isinstance(value, Path) and value.parts and _MANGLED.match(value.parts[0]):
            raise ConfigError(f"{key}: {HINT}")
