# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Counting what reaches a host: with MVM_COMMAND_LOG set, every probe and step is appended there.

The benchmarks use it to show that a converged host costs the same commands for 1 VM as for 10.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import os


def record(kind: str, command: str) -> None:
    path = os.environ.get("MVM_COMMAND_LOG")
    if path:
        with open(path, "a") as log:
            log.write("%s\t%s\n" % (kind, command.replace("\n", " ")[:200]))
