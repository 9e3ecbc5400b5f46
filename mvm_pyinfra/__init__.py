"""mvm for pyinfra: facts and operations over the engine in the mvm.microvm collection.

    from mvm_pyinfra import operations as mvm
    mvm.rootfs(name="Build the default image")
    mvm.vm(name="Run web", vm="web", image="default", backend="qemu")

The package needs pyinfra, not ansible-core: the engine (the collection's module_utils and plugin_utils, installed
beside this package) imports only the standard library and, for fleet files, pydantic and ruamel.yaml. The
collection's own plugins need ansible-core: ``pip install 'mvm-pyinfra[ansible]'``.
"""

from __future__ import annotations

import re
from pathlib import Path

# One version for the package and the collection: galaxy.yml's, which Galaxy reads as it is (pyproject.toml takes
# this attribute, see [tool.setuptools.dynamic]).
_GALAXY = Path(__file__).resolve().parent.parent / "ansible_collections" / "mvm" / "microvm" / "galaxy.yml"
__version__ = re.search(r"^version:\s*([0-9][0-9A-Za-z.+-]*)\s*$", _GALAXY.read_text(), re.M).group(1)  # type: ignore[union-attr]
