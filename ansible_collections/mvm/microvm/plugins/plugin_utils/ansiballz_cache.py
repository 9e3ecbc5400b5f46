# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's module payloads, kept from one ansible-playbook run to the next.

Before a module runs, ansible-core builds its AnsiballZ payload on the controller: it parses every module_utils
file the module imports, recursively, and zips them. For an mvm module that is about 0.25 s more than for
`ansible.builtin.ping` (the engine's module_utils are ~400 KB of source), paid once per module per run, since
ansible-core keeps built payloads only in the run's own temporary directory. A converged run of the example
playbook (facts, rootfs, vm) spent most of its time there.

Here the collection's action plugins keep the payload Ansible built, under the local temporary directory's
parent (`~/.ansible/tmp/mvm-ansiballz`, 0700, files 0600, owner checked), keyed by everything it is made of:
ansible-core's version, the controller's Python, the compression, the module's source and every module_utils
file of this collection. A later run puts it where ansible-core looks for its own before building. Anything
unexpected (another layout of ansible-core's cache, a coverage or debugger extension, a file not ours) means no
reuse: ansible-core builds the payload as it always does. `MVM_ANSIBALLZ_CACHE=0` turns it off.

This leans on how ansible-core 2.19 names its per-run cache (`<local tmp>/ansiballz_cache/<fqn>-<compression>-
<extensions>`); the key holds the ansible-core version, so another version never reads a payload this one built.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import sys
from typing import Any, Iterator, Mapping, Optional, Tuple

COLLECTION = "mvm.microvm"
PLUGINS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../ansible_collections/mvm/microvm/plugins
STORE = "mvm-ansiballz"
KEEP_PER_MODULE = 2  # payloads kept per module and compression (older ones are removed when a new one is kept)
_SOURCES: dict = {}  # module -> key, for this controller process


def enabled() -> bool:
    return os.environ.get("MVM_ANSIBALLZ_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


def source_key(leaf: str, compression: str, ansible_version: str) -> Optional[str]:
    """A digest of everything the module's payload is made of (None: not one of this collection's modules)."""
    module = os.path.join(PLUGINS, "modules", leaf + ".py")
    if not os.path.isfile(module):
        return None
    digest = hashlib.sha256()
    for part in (ansible_version, sys.version, compression, leaf):
        digest.update(part.encode() + b"\0")
    utils = os.path.join(PLUGINS, "module_utils")
    for path in [module] + sorted(os.path.join(utils, n) for n in os.listdir(utils) if n.endswith(".py")):
        with open(path, "rb") as source:
            digest.update(os.path.basename(path).encode() + b"\0" + source.read() + b"\0")
    return digest.hexdigest()


def _where(module_name: str, task_vars: Mapping[str, Any]) -> Optional[Tuple[str, str, str]]:
    """(where ansible-core looks for this run's payload, where the kept one is, its name prefix), or None."""
    if not enabled() or not module_name.startswith(COLLECTION + ".") or module_name.count(".") != 2:
        return None
    try:
        from ansible import constants as C
        from ansible._internal._ansiballz import _builder
        from ansible.executor import module_common
        from ansible.release import __version__

        if not hasattr(module_common, "_CachedModule") or not getattr(C, "DEFAULT_LOCAL_TMP", None):
            return None
        if _builder.ExtensionManager.create(task_vars=task_vars).extension_names:
            return None  # a coverage or debugger run builds its own payloads
        compression = str(C.config.get_config_value("DEFAULT_MODULE_COMPRESSION", variables=task_vars))
    except Exception:  # another ansible-core than the one this was written for: build as usual
        return None
    leaf = module_name.rsplit(".", 1)[1]
    key = _SOURCES.get((leaf, compression))
    if key is None:
        key = _SOURCES[(leaf, compression)] = source_key(leaf, compression, __version__)
    if key is None:
        return None
    fqn = "ansible_collections.mvm.microvm.plugins.modules." + leaf
    target = os.path.join(C.DEFAULT_LOCAL_TMP, "ansiballz_cache", "%s-%s-none" % (fqn, compression))
    prefix = "%s-%s-" % (leaf, compression)
    return target, os.path.join(os.path.dirname(C.DEFAULT_LOCAL_TMP), STORE, prefix + key[:40]), prefix


def _ours(path: str, directory: bool = False) -> bool:
    """A kept file (or the store) this user made and no one else can write: ansible-core unpickles the file."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    kind = stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)
    return kind and info.st_uid == os.geteuid() and not info.st_mode & (0o077 if directory else 0o022)


def _copy(source: str, destination: str) -> None:
    """Whole or not at all: a reader sees the old file or the new one, never half of one."""
    part = "%s.part-%d" % (destination, os.getpid())
    with open(source, "rb") as src, os.fdopen(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.replace(part, destination)


def seed(target: str, kept: str) -> bool:
    """Put the kept payload where ansible-core looks for this run's (if it has none yet). True if it did."""
    if os.path.exists(target) or not _ours(kept) or not _ours(os.path.dirname(kept), directory=True):
        return False
    os.makedirs(os.path.dirname(target), exist_ok=True)
    _copy(kept, target)
    return True


def keep(target: str, kept: str, prefix: str) -> bool:
    """Keep the payload ansible-core built for this run (if none is kept yet); older ones of the module go."""
    if os.path.exists(kept) or not os.path.isfile(target):
        return False
    store = os.path.dirname(kept)
    os.makedirs(store, mode=0o700, exist_ok=True)
    if not _ours(store, directory=True):
        return False
    _copy(target, kept)
    others = sorted((os.path.join(store, n) for n in os.listdir(store) if n.startswith(prefix) and ".part-" not in n),
                    key=lambda p: os.stat(p).st_mtime, reverse=True)
    for old in others[KEEP_PER_MODULE:]:
        with contextlib.suppress(OSError):
            os.unlink(old)
    return True


@contextlib.contextmanager
def reused(module_name: str, task_vars: Mapping[str, Any]) -> Iterator[None]:
    """Around ansible-core's build of a module's payload: the kept one first, what it built kept after."""
    where = None
    with contextlib.suppress(Exception):  # a cache: never the reason a task fails
        where = _where(module_name, task_vars)
        if where:
            seed(where[0], where[1])
    yield
    if where:
        with contextlib.suppress(Exception):
            keep(*where)


class CachedPayload:
    """Mixin for the collection's action plugins: their modules' payloads come from the kept ones (see above)."""

    def _configure_module(self, module_name: str, module_args: Any, task_vars: Any) -> Any:
        resolved = getattr(getattr(self, "_task", None), "resolved_action", None) or ""
        full = resolved if "." not in module_name and resolved.endswith("." + module_name) else module_name
        with reused(full, task_vars or {}):
            return super()._configure_module(module_name, module_args, task_vars)  # type: ignore[misc]


def normal_action() -> Any:
    """The action plugin of the modules with nothing of their own to do on the controller: ansible-core's
    `normal` (async included), with the kept payloads."""
    from ansible.plugins.action.normal import ActionModule as Normal

    class ActionModule(CachedPayload, Normal):
        pass

    return ActionModule
