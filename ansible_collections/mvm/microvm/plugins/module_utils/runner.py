# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running a plan through whatever executes commands on the host (Ansible's run_command, a test's shell)."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import subprocess
from typing import Callable, List, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import trace
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan

Run = Callable[..., Tuple[int, str, str]]  # run(command) or run(command, stdin)


class StepFailed(MvmError):
    def __init__(self, description: str, command: str, rc: int, stdout: str, stderr: str) -> None:
        self.description, self.command, self.rc, self.stdout, self.stderr = description, command, rc, stdout, stderr
        super(StepFailed, self).__init__("step %r failed (rc=%d): %s" % (
            description, rc, (stderr or stdout).strip()[-2000:]))


def execute(plan: Plan, run: Run, check_mode: bool = False) -> List[str]:
    """Run each step in order; stop at the first failure. Check mode runs nothing."""
    done = []  # type: List[str]
    if check_mode:
        return done
    for step in plan.steps:
        trace.record("step", step.description)
        rc, out, err = run(step.script, step.stdin) if step.stdin else run(step.script)
        if rc != 0:
            raise StepFailed(step.description, step.command, rc, out, err)
        done.append(step.description)
    return done


def local(command: str, stdin: str = "") -> Tuple[int, str, str]:
    """Run a command on this machine (for command-line tools and tests that act on the local host)."""
    proc = subprocess.run(["/bin/sh", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          input=stdin, universal_newlines=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr
