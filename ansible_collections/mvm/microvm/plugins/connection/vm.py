# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible connection plugin: tasks run inside an mvm microVM, through its guest agent."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: vm
short_description: Run tasks inside an mvm microVM through its guest agent
description:
  - Runs commands and copies files inside a microVM that mvm manages, without SSH or a network inside the guest.
  - QEMU and Firecracker VMs are reached through the QEMU guest agent (C(qemu-ga)) that every image mvm builds
    carries and that mvm's init starts; its C(guest-exec) and C(guest-file-*) commands carry commands and files.
    QEMU's side is the VM's virtio-serial socket, Firecracker's its vsock socket (C(CONNECT <port>) handshake).
  - Docker VMs are reached with C(docker exec).
  - For a VM on another VM host, the plugin reaches that host over SSH and runs a small relay there with the host's
    C(python3); nothing else is installed on the VM host.
  - Commands run as root inside the guest with mvm's shell (C(/mvm/bin/sh)); C(become) works where the image has
    C(sudo) or C(su).
author:
  - mvm developers (@mvm-dev)
version_added: 0.1.0
options:
  remote_addr:
    description:
      - The name of the VM, as the C(mvm.microvm.vm) module knows it.
    type: str
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_mvm_vm
  mvm_host:
    description:
      - The VM host the VM runs on, as an SSH destination (C(user@host) or a name from the SSH configuration).
      - Unset or empty, the VM runs on the machine Ansible runs on.
    type: str
    vars:
      - name: ansible_mvm_host
  mvm_ssh_args:
    description:
      - Extra arguments for C(ssh) when the VM host is another machine (for example C(-p), C(-i), C(-o)).
    type: list
    elements: str
    default: []
    vars:
      - name: ansible_mvm_ssh_args
  state_root:
    description:
      - mvm's state root on the VM host; unset, the default there (C(/var/lib/mvm) as root).
    type: str
    vars:
      - name: ansible_mvm_state_root
  agent_timeout:
    description:
      - Seconds the guest agent has to answer one request. A guest whose agent does not answer fails the task
        within this time, with the end of the VM's console log.
    type: float
    default: 10
    vars:
      - name: ansible_mvm_agent_timeout
extends_documentation_fragment:
  - connection_pipelining
notes:
  - The QEMU guest agent answers one client at a time; tasks for one VM run one after another.
seealso:
  - module: mvm.microvm.vm
  - module: mvm.microvm.vm_info
"""

import os

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

from ansible_collections.mvm.microvm.plugins.module_utils import agent
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError

display = Display()


class Connection(ConnectionBase):
    """One guest session per task: the relay on the VM host and the agent's sync come with `_connect`."""

    transport = "mvm.microvm.vm"
    has_pipelining = True
    has_tty = False

    def __init__(self, *args, **kwargs):
        super(Connection, self).__init__(*args, **kwargs)
        self._session = None

    def _target(self):
        host = self.get_option("mvm_host") or None
        return agent.Target(str(self.get_option("remote_addr")), host=host,
                            ssh_args=[str(a) for a in self.get_option("mvm_ssh_args") or []],
                            state_root=self.get_option("state_root") or None,
                            timeout=float(self.get_option("agent_timeout")))

    def _connect(self):
        if not self._connected:
            try:
                target = self._target()
                display.vvv("MVM: connecting to the guest of %s" % target.label(), host=target.vm)
                self._session = agent.open_session(target)
            except MvmError as e:
                raise AnsibleConnectionFailure(to_native(e)) from e
            self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super(Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        display.vvv("MVM: EXEC %s" % to_text(cmd), host=self._play_context.remote_addr)
        try:
            rc, out, err = self._session.exec(to_text(cmd), stdin=to_bytes(in_data or b""))
        except MvmError as e:
            raise AnsibleConnectionFailure(to_native(e)) from e
        return rc, out, err

    def put_file(self, in_path, out_path):
        super(Connection, self).put_file(in_path, out_path)
        display.vvv("MVM: PUT %s TO %s" % (in_path, out_path), host=self._play_context.remote_addr)
        if not os.path.exists(to_bytes(in_path, errors="surrogate_or_strict")):
            raise AnsibleFileNotFound("file or module does not exist: %s" % to_native(in_path))
        self._connect()
        with open(to_bytes(in_path, errors="surrogate_or_strict"), "rb") as f:
            data = f.read()
        try:
            self._session.put(data, to_text(out_path))
        except MvmError as e:
            raise AnsibleError("failed to transfer %s to %s: %s" % (in_path, out_path, to_native(e))) from e

    def fetch_file(self, in_path, out_path):
        super(Connection, self).fetch_file(in_path, out_path)
        display.vvv("MVM: FETCH %s TO %s" % (in_path, out_path), host=self._play_context.remote_addr)
        self._connect()
        try:
            data = self._session.get(to_text(in_path))
        except MvmError as e:
            raise AnsibleError("failed to fetch %s to %s: %s" % (in_path, out_path, to_native(e))) from e
        with open(to_bytes(out_path, errors="surrogate_or_strict"), "wb") as f:
            f.write(data)

    def reset(self):
        self.close()

    def close(self):
        if self._session is not None:
            self._session.close()
            self._session = None
        self._connected = False
