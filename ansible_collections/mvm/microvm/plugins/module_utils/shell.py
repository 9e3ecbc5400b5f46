# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plans and shell quoting: the one place where values become shell text."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

UMASK = "umask 077; "
_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+", re.ASCII)


def quote(value: object) -> str:
    """POSIX single-quote a value unless it is plainly safe (keeps commands readable).

    The whole value must be in the safe set (fullmatch: a trailing newline is not safe).
    """
    text = str(value)
    if text and _SAFE.fullmatch(text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


def join(argv: Sequence[object]) -> str:
    """Quote and join an argv into one command line."""
    return " ".join(quote(a) for a in argv)


def write_file(path: str, content: str, mode: str = "0600") -> str:
    """A command that writes `content` to `path` atomically (no heredoc: survives any quoting)."""
    tmp = path + ".tmp"
    return "printf %%s %s > %s && chmod %s %s && mv -f %s %s" % (
        quote(content), quote(tmp), mode, quote(tmp), quote(tmp), quote(path))


@dataclass(frozen=True)
class Step:
    """One thing to do on the host: a sentence for humans and one shell command."""

    description: str
    command: str
    # Data the command reads on its standard input: how a secret reaches the host without appearing in the
    # command text (which results, logs and `ps` show). Never shown anywhere.
    stdin: str = field(default="", repr=False)
    # A wait for a guest (ready, healthy) that nothing of another VM's plan needs: many VMs start first, then are
    # waited for together (see ops.vms_plan).
    waits: bool = field(default=False, repr=False)

    @property
    def script(self) -> str:
        """What runs on the host: the command under umask 077, so whatever mvm writes (disks, logs, sockets,
        snapshots, records) is its owner's alone unless a step says otherwise."""
        return UMASK + self.command


def staged_input(step: Step, token: str) -> Tuple[str, str, str]:
    """For a front-end that cannot feed a command's standard input (pyinfra): the command that makes a directory of
    its own on the host's tmpfs (0700), the file to upload there, and the step reading that file, which removes the
    directory whether it succeeds or fails. `token` is the front-end's unique name for it ([0-9a-f])."""
    if not re.fullmatch(r"[0-9a-f]{8,32}", token):
        raise ValueError("staging token must be 8 to 32 hex digits")
    staging = "/dev/shm/mvm-in-" + token
    return (UMASK + "mkdir -m 0700 %s" % staging, staging + "/in",
            UMASK + "( %s\n) < %s/in; rc=$?; rm -rf %s; exit $rc" % (step.command, staging, staging))


@dataclass
class Plan:
    """What an operation will do: ordered steps, a before/after for --diff, warnings, result."""

    steps: List[Step] = field(default_factory=list)
    before: Dict[str, Any] = field(default_factory=dict)
    after: Dict[str, Any] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)
    result: Dict[str, Any] = field(default_factory=dict)
    # Lock files a run holds while it carries the steps out (see lock); set by ops, empty for a no-op.
    locks: List[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.steps)

    @property
    def commands(self) -> List[str]:
        return [s.command for s in self.steps]

    def add(self, description: str, command: str, stdin: str = "") -> None:
        self.steps.append(Step(description, command, stdin))

    def wait(self, description: str, command: str) -> None:
        """A step that waits for a guest (see Step.waits)."""
        self.steps.append(Step(description, command, waits=True))

    def diff(self) -> Dict[str, Any]:
        """Ansible's diff shape; pyinfra prints the same two dicts."""
        return {"before": self.before, "after": self.after}
