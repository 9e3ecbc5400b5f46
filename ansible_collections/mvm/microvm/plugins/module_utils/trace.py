# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Counting what reaches a host: with MVM_COMMAND_LOG set, every probe and step is appended there.

The benchmarks use it to show that a converged host costs the same commands for 1 VM as for 10; the
fault tests use the step count to kill a run at every step boundary.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import os

_STEPS = [0]


def record(kind: str, command: str) -> None:
    path = os.environ.get("MVM_COMMAND_LOG")
    if path:
        with open(path, "a") as log:
            log.write("%s\t%s\n" % (kind, command.replace("\n", " ")[:200]))
    if kind == "step":
        _fault_point()


def _fault_point() -> None:
    """For fault tests: with MVM_TEST_KILL_AFTER_STEPS=k, the runner's whole process group is killed with
    SIGKILL just before step k+1 (k steps done), as a power cut or an operator's kill -9 would."""
    after = os.environ.get("MVM_TEST_KILL_AFTER_STEPS")
    if after is None or not after.isdigit():
        return
    if _STEPS[0] >= int(after):
        import signal

        os.killpg(os.getpgid(0), signal.SIGKILL)
    _STEPS[0] += 1
