"""The embedded default example, from the same YAML file that playbooks/up.yml reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

import ansible_collections.mvm.microvm as collection


def path() -> Path:
    return Path(list(collection.__path__)[0]) / "playbooks" / "vars" / "example.yml"


def load() -> dict[str, Any]:
    return YAML(typ="safe").load(path().read_text())
