"""pyinfra connector: operations run inside an mvm microVM, through its guest agent (docker exec for Docker VMs).

    pyinfra @mvm/web exec -- cat /proc/cmdline          # VM `web` on this machine
    pyinfra @mvm/root@kvm1/web deploy.py                # VM `web` on the VM host root@kvm1, over SSH
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional

from pyinfra.api.exceptions import ConnectError, InventoryError
from pyinfra.api.util import get_file_io
from pyinfra.connectors.base import BaseConnector, DataMeta
from pyinfra.connectors.util import CommandOutput, OutputLine, make_unix_command_for_host
from typing_extensions import TypedDict

from ansible_collections.mvm.microvm.plugins.module_utils import agent
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError

if TYPE_CHECKING:
    from pyinfra.api.host import Host
    from pyinfra.api.state import State


class ConnectorData(TypedDict, total=False):
    mvm_vm: str
    mvm_host: Optional[str]
    mvm_ssh_args: list
    mvm_state_root: Optional[str]
    mvm_agent_timeout: float


connector_data_meta: dict = {
    "mvm_vm": DataMeta("name of the VM"),
    "mvm_host": DataMeta("SSH destination of the VM host (unset: this machine)"),
    "mvm_ssh_args": DataMeta("extra ssh arguments for the VM host", []),
    "mvm_state_root": DataMeta("mvm's state root on the VM host (unset: the default there)"),
    "mvm_agent_timeout": DataMeta("seconds the guest agent has to answer one request", agent.DEFAULT_TIMEOUT),
}


class MvmConnector(BaseConnector):
    """
    Run pyinfra's operations inside a microVM that mvm manages: QEMU and Firecracker guests through the QEMU
    guest agent mvm puts in every image, Docker VMs through ``docker exec``. For a VM on another VM host
    (``@mvm/HOST/VM``), the connector reaches that host over SSH and runs a small relay there with its python3.

    .. code:: shell

        pyinfra @mvm/web exec -- cat /proc/cmdline
        pyinfra @mvm/root@kvm1/web deploy.py --data mvm_state_root=/srv/mvm

    Data: ``mvm_ssh_args`` (list), ``mvm_state_root``, ``mvm_agent_timeout`` (seconds, default 10).
    """

    handles_execution = True
    data_cls = ConnectorData
    data_meta = connector_data_meta
    data: ConnectorData

    def __init__(self, state: "State", host: "Host") -> None:
        super().__init__(state, host)
        self.session: Optional[agent.Session] = None

    @staticmethod
    def make_names_data(name: Optional[str] = None) -> Iterator[tuple]:
        if not name:
            raise InventoryError("No VM given: @mvm/VM or @mvm/VMHOST/VM")
        vm_host, _, vm = name.rpartition("/")
        yield ("@mvm/%s" % name, {"mvm_vm": vm, "mvm_host": vm_host or None}, ["@mvm"])

    def _target(self) -> agent.Target:
        return agent.Target(str(self.data["mvm_vm"]), host=self.data.get("mvm_host") or None,
                            ssh_args=[str(a) for a in self.data.get("mvm_ssh_args") or []],
                            state_root=self.data.get("mvm_state_root") or None,
                            timeout=float(self.data.get("mvm_agent_timeout") or agent.DEFAULT_TIMEOUT))

    def connect(self) -> None:
        try:
            self.session = agent.open_session(self._target())
        except MvmError as e:
            raise ConnectError(str(e)) from e

    def disconnect(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def _session(self) -> agent.Session:
        if self.session is None:
            self.connect()
        assert self.session is not None
        return self.session

    def run_shell_command(self, command: Any, print_output: bool = False, print_input: bool = False,
                          **arguments: Any) -> tuple:
        arguments.pop("_get_pty", None)
        arguments.pop("_stdin", None)
        codes = arguments.pop("_success_exit_codes", None) or [0]
        timeout = arguments.pop("_timeout", None)
        unix = make_unix_command_for_host(self.state, self.host, command, **arguments)
        text = unix.get_raw_value()
        if print_input:
            print("%s>>> %s" % (self.host.print_prefix, text))
        try:
            rc, out, err = self._session().exec(text, timeout=timeout)
        except MvmError as e:
            raise ConnectError(str(e)) from e
        lines = [OutputLine("stdout", line) for line in out.decode("utf-8", "replace").splitlines()]
        lines += [OutputLine("stderr", line) for line in err.decode("utf-8", "replace").splitlines()]
        if print_output:
            for line in lines:
                print("%s%s" % (self.host.print_prefix, line.line))
        return rc in codes, CommandOutput(lines)

    def put_file(self, filename_or_io: Any, remote_filename: str, remote_temp_filename: Optional[str] = None,
                 print_output: bool = False, print_input: bool = False, **arguments: Any) -> bool:
        with get_file_io(filename_or_io) as f:
            data = f.read()
        try:
            self._session().put(data.encode() if isinstance(data, str) else data, remote_filename)
        except MvmError as e:
            raise OSError(str(e)) from e
        return True

    def get_file(self, remote_filename: str, filename_or_io: Any, remote_temp_filename: Optional[str] = None,
                 print_output: bool = False, print_input: bool = False, **arguments: Any) -> bool:
        try:
            data = self._session().get(remote_filename)
        except MvmError as e:
            raise OSError(str(e)) from e
        with get_file_io(filename_or_io, "wb") as f:
            f.write(data)
        return True
