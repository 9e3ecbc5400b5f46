# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backends mvm knows: this list, and nothing else, says which exist.

Module choices, the capability table, automatic selection order, the doctor's needs and the tests' tables
are derived from it. Adding a backend: one driver module (see driver.Driver) and one line here.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type


from typing import Any, Dict, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import apple_container, docker_backend, firecracker, lima, qemu
from ansible_collections.mvm.microvm.plugins.module_utils.driver import Driver
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError

DRIVERS: Tuple[Driver, ...] = (qemu.DRIVER, firecracker.DRIVER, docker_backend.DRIVER, apple_container.DRIVER, lima.DRIVER)

BACKENDS = tuple(d.name for d in DRIVERS)
# What a user may write as `backend:`.
CHOICES = ("auto",) + BACKENDS
# `auto` tries these in order; the backends without a priority (qemu) come after, as the fallback.
PRIORITY = tuple(d.name for d in sorted((d for d in DRIVERS if d.priority is not None), key=lambda d: d.priority or 0))
FALLBACK = tuple(d.name for d in DRIVERS if d.priority is None)
CAPABILITIES: Dict[str, Dict[str, Any]] = {d.name: dict(d.capabilities) for d in DRIVERS}


def get(name: str) -> Driver:
    for d in DRIVERS:
        if d.name == name:
            return d
    raise MvmError("no backend named %r; mvm knows %s" % (name, ", ".join(BACKENDS)))


def require(backend: str, capability: str, field: str) -> None:
    """Fail before anything runs when the backend cannot serve a request, naming the backends that can."""
    if CAPABILITIES.get(backend, {}).get(capability):
        return
    able = [n for n, caps in CAPABILITIES.items() if caps.get(capability)]
    raise MvmError("%s: backend %s cannot do %s; use one of %s" % (field, backend, capability, ", ".join(able)))
