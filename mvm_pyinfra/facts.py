"""pyinfra facts: the engine's host probe, one command per host."""

from __future__ import annotations

from typing import Any, Sequence

from pyinfra.api import FactBase

from ansible_collections.mvm.microvm.plugins.module_utils import lima as lima_engine
from ansible_collections.mvm.microvm.plugins.module_utils import ops, probe, vm_info


def _maybe_in_lima(command: str, lima: str | None) -> str:
    return lima_engine.in_lima(lima, command) if lima else command


class MvmHost(FactBase):
    """
    Everything mvm knows of a host, from one probe: platform, KVM (present and usable), tools,
    docker, backend selection with reasons, microVMs and images under the state root.

    + state_root: mvm state directory (default ``/var/lib/mvm`` for root, else ``$XDG_STATE_HOME/mvm``)
    + lima: read the facts inside this Lima instance instead of on the host

    Returns the same structure as the Ansible module ``mvm.microvm.facts`` puts in
    ``ansible_facts.mvm``.
    """

    def command(self, state_root: str | None = None, lima: str | None = None) -> str:
        return _maybe_in_lima(probe.host_probe(state_root), lima)

    def process(self, output: Sequence[str]) -> dict[str, Any]:
        return ops.host_report(probe.parse_host("\n".join(output)))


class MvmHostRecords(FactBase):
    """
    The host probe's records as it prints them, without the QEMU guests' run state: for a deploy that runs on
    the host itself (pyinfra's ``@local``), which asks QMP from its own process instead of starting a Python on
    the host for it. ``MvmHost`` is what deploys read.

    + state_root: mvm state directory
    """

    def command(self, state_root: str | None = None) -> str:
        return probe.host_probe(state_root, vmm_status=False)

    def process(self, output: Sequence[str]) -> str:
        return "\n".join(output) + "\n"


class MvmVms(FactBase):
    """
    The microVMs mvm manages on a host, by name: backend, state (running or stopped), pid and the
    applied spec. Uses the same probe as ``MvmHost``.

    + state_root: mvm state directory
    """

    def command(self, state_root: str | None = None) -> str:
        return probe.host_probe(state_root)

    def process(self, output: Sequence[str]) -> dict[str, Any]:
        return probe.parse_host("\n".join(output))["vms"]


class MvmVmInfo(FactBase):
    """
    The microVMs mvm manages on a host as ``vm_info`` reports them: a list of records with ``name``, ``backend``,
    ``state``, ``ready``, ``pid``, ``address``, ``network``, ``image``, ``ports``, ``labels``, ``health``
    (``starting``, ``healthy``, ``unhealthy`` or None without a check), ``health_exit_code``, ``health_output``
    and ``console_log``. Uses the same probe as ``MvmHost``.

    + state_root: mvm state directory
    """

    def command(self, state_root: str | None = None) -> str:
        return probe.host_probe(state_root)

    def process(self, output: Sequence[str]) -> list[dict[str, Any]]:
        return vm_info.records(probe.parse_host("\n".join(output))["vms"])


class MvmPaths(FactBase):
    """
    sha256 of the given files that exist on the host (missing files are left out).

    + paths: absolute paths to look at
    """

    def command(self, paths: Sequence[str], lima: str | None = None) -> str:
        return _maybe_in_lima(probe.paths_probe(paths), lima)

    def process(self, output: Sequence[str]) -> dict[str, str]:
        return probe.parse_paths("\n".join(output))
