# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The options are module_utils/workload.py's ARGSPEC (a test holds the module's argument spec equal to it).
    DOCUMENTATION = r"""
options:
  command:
    description:
      - The workload's arguments, replacing the image's C(Cmd) (as C(docker run IMAGE COMMAND) does). A string is
        split as a POSIX shell would; nothing is run through a shell unless you give one.
      - mvm's init runs the workload after the readiness marker, as O(user), in O(workdir), with O(env), its output
        on the console, and logs C(MVM-EXIT <code>) when it ends; then O(restart) decides.
      - Changing any workload option restarts the VM on the disk it has.
    type: raw
  entrypoint:
    description: Replaces the image's C(Entrypoint); the image's C(Cmd) is then dropped unless O(command) is given.
    type: raw
  workdir:
    description: Working directory of the workload (default the image's C(WorkingDir), else C(/)).
    type: str
  user:
    description:
      - User the workload runs as, a name from the image's C(/etc/passwd) or C(uid[:gid]) (default the image's
        C(User), else C(root)).
    type: str
  env:
    description: Environment of the workload, merged over the image's C(Env).
    type: dict
  files:
    description:
      - Config files, on a read-only disk of the VM mounted at C(/mvm/config) in the guest (made again when one
        changes).
    type: list
    elements: dict
    suboptions:
      path:
        description: Path under C(/mvm/config); letters, digits, C(.), C(_), C(-) and C(/), no C(..).
        type: str
        required: true
      content:
        description: The file's content (give this or O(files[].src)).
        type: str
      src:
        description: A file on the VM host to copy (not on the controller).
        type: path
      mode:
        description: The file's mode in the guest.
        type: raw
        default: '0644'
  secrets:
    description:
      - Like O(files), on a disk of their own (mode 0600 on the host), copied by the guest's init into a tmpfs at
        C(/mvm/secrets) (0700), each file 0600 and owned by O(user).
      - A secret's content never appears in the module's results, diff, commands or the applied spec (which keeps a
        salted hash of it, so that a change restarts the VM); it reaches the host on a command's standard input.
    type: list
    elements: dict
    suboptions:
      path:
        description: Path under C(/mvm/secrets).
        type: str
        required: true
      content:
        description: The secret (give this or O(secrets[].src)).
        type: str
      src:
        description: A file on the VM host to copy.
        type: path
      mode:
        description: The file's mode in the guest.
        type: raw
        default: '0600'
  restart:
    description:
      - What mvm's init does when the workload ends. V(no) powers the VM off (it is then V(stopped)), V(on-failure)
        runs it again when it failed, V(always) runs it again.
    type: str
    choices: ['no', on-failure, always]
    default: 'no'
  volumes:
    description:
      - Persistent data disks, C(<state_root>/volumes/<name>.ext4) (0600), made when missing, mounted read-write at
        O(volumes[].mount) with the top directory owned by O(user).
      - A volume is kept across the VM's recreation and O(state=absent); only M(mvm.microvm.volume) with
        C(state=absent) deletes it. A larger O(volumes[].size) grows it (the VM restarts); it never shrinks. A
        volume belongs to one VM at a time.
    type: list
    elements: dict
    suboptions:
      name:
        description: Volume name.
        type: str
        required: true
      mount:
        description: Absolute path in the guest (not under C(/proc), C(/sys), C(/dev), C(/run), C(/tmp) or C(/mvm)).
        type: str
        required: true
      size:
        description: MiB or with a unit (C(10G)).
        type: raw
        default: 1024
  autostart:
    description:
      - Start the VM again after the VM host reboots and after its VMM dies, as operators expect of servers.
      - On a VM backend the host's PID 1 must be systemd (the facts say, in C(platform.init)); the VM is then an
        instance of one template unit, C(mvm-vm@.service), named after the VM's directory, which mvm enables and
        starts and stops through C(systemctl). Refused elsewhere, naming this option.
      - On V(docker) the container gets C(--restart unless-stopped). Removing the VM disables its unit.
    type: bool
    default: false
  disk_size:
    description:
      - Size of the VM's own root disk (MiB or with a unit), grown from the image's C(rootfs.ext4) when the VM is
        made, or later (the VM restarts). A disk never shrinks; a smaller value is refused unless O(recreate).
    type: raw
  health:
    description:
      - A health check, as Docker's C(HEALTHCHECK) has it. mvm's init runs it inside the guest every
        O(health.interval) seconds as the workload's user, with its environment and working directory (there is no
        daemon on the VM host to run it); a change of state is written to the console.
      - The facts and M(mvm.microvm.vm_info) report C(starting), C(healthy), or C(unhealthy) with the check's last
        output.
    type: dict
    suboptions:
      command:
        description:
          - A string runs with the guest's shell (C(CMD-SHELL)); a list is the command and its arguments (C(CMD)).
          - Exit status 0 is healthy; anything else a failure.
        type: raw
        required: true
      interval:
        description: Seconds between checks.
        type: float
        default: 10
      timeout:
        description: Seconds one check may take before it counts as a failure.
        type: float
        default: 5
      retries:
        description: Failures in a row that make the VM unhealthy.
        type: int
        default: 3
      start_period:
        description: Seconds after boot during which failures do not count (the VM stays C(starting)).
        type: float
        default: 0
  wait_healthy:
    description:
      - With O(health), a VM this task starts is waited for until its check passes; if it becomes unhealthy, or is
        not healthy within O(boot_timeout), the task fails with the check's last output.
    type: bool
    default: true
"""
