# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Locks that keep two runs from acting on one VM, network or image build at once.

A lock is an flock(2) on a file under `<state_root>/locks/`. Which locks an operation takes is decided
here, from its spec (the plan carries their paths); how a front-end holds them differs only in where its
process lives:
  - an Ansible module runs on the host: it holds the locks in its own process (`held`);
  - pyinfra drives the host command by command: a small holder process started on the host takes the
    locks (`acquire_command`) and lets go when the run's last step removes its token (`release_command`),
    when a step fails, when the run's process (pyinfra, or the sshd session it uses) is gone, or at the
    latest after `max_hold` seconds.
Either way the run that waited plans again once it holds the locks, so it acts on what the other run left.
Locks are taken in sorted order, so two runs never wait on each other.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import errno
import os
import time
from typing import Any, Iterable, List, Sequence

from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import join, quote

TIMEOUT = 300.0  # seconds a run waits for another one before it gives up
MAX_HOLD = 3600.0  # a holder whose run vanished lets go after this long


def paths(state_root: str, names: Iterable[str]) -> List[str]:
    """Lock files for these names (names are validated resource names, so they are safe file names)."""
    return sorted({"%s/locks/%s.lock" % (state_root, n) for n in names})


def for_vm(spec: Any) -> List[str]:
    """A VM: its own lock, its network's (leases), and the host's ports when it publishes some."""
    return (["vm-" + spec.name] + (["net-" + spec.network] if spec.network else [])
            + (["ports"] if spec.ports else []) + (["snap-" + spec.snapshot] if spec.snapshot else [])
            + ["volume-" + v.name for v in getattr(spec, "volumes", ())])


def _message(path: str, timeout: float) -> str:
    return ("another mvm run holds %s; gave up after %gs (wait for it to finish, or remove a stale holder: "
            "fuser -k %s)" % (path, timeout, path))


class Held:
    """Locks held by this process (an Ansible module on the host); released on exit or by release()."""

    def __init__(self, files: Sequence[str], timeout: float = TIMEOUT) -> None:
        import fcntl

        self._fds = []  # type: List[int]
        try:
            for path in files:
                os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                self._fds.append(fd)
                end = time.monotonic() + timeout
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except OSError as exc:
                        if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > end:
                            raise MvmError(_message(path, timeout)) from None
                        time.sleep(0.1)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def __enter__(self) -> "Held":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


# The holder: takes every lock (sorted), says "held" in the token file, waits while it exists.
_HOLDER = r"""import errno,fcntl,os,sys,time
token,timeout,hold,watch=sys.argv[1],float(sys.argv[2]),float(sys.argv[3]),sys.argv[4];fds=[]
def say(t):
    tmp=token+'.tmp';f=open(tmp,'w');f.write(t);f.close();os.rename(tmp,token)
def stat(pid):
    try: s=open('/proc/%s/stat'%pid).read()
    except OSError: return None
    comm=s[s.index('(')+1:s.rindex(')')];rest=s[s.rindex(')')+2:].split()
    return comm,rest[1],rest[19]
# The run this holder serves: the first ancestor of the acquiring shell that is no shell or sudo (pyinfra
# itself, or the sshd session it talks through). When it is gone, so is the run.
run=None
while watch.isdigit() and int(watch)>1:
    st=stat(watch)
    if st is None: break
    if st[0] not in ('sh','bash','dash','sudo','su','doas','env','timeout','setsid'): run=(watch,st[2]);break
    watch=st[1]
def alive():
    if run is None: return True
    st=stat(run[0]);return st is not None and st[2]==run[1]
for p in sys.argv[5:]:
    os.makedirs(os.path.dirname(p),mode=0o700,exist_ok=True)
    fd=os.open(p,os.O_RDWR|os.O_CREAT|os.O_NOFOLLOW,0o600);fds.append(fd);end=time.monotonic()+timeout
    while True:
        try: fcntl.flock(fd,fcntl.LOCK_EX|fcntl.LOCK_NB);break
        except OSError as e:
            if e.errno not in (errno.EAGAIN,errno.EACCES) or time.monotonic()>end: say('busy '+p);sys.exit(1)
            time.sleep(0.1)
say('held');end=time.monotonic()+hold
while os.path.exists(token) and time.monotonic()<end and alive(): time.sleep(0.1)
try: os.remove(token)
except OSError: pass
"""


def token_path(files: Sequence[str], token: str) -> str:
    return "%s/holder-%s" % (os.path.dirname(files[0]), token)


def acquire_command(files: Sequence[str], token: str, timeout: float = TIMEOUT, max_hold: float = MAX_HOLD) -> str:
    """Start a holder on the host and wait until it holds every lock (or say who holds one)."""
    tok = token_path(files, token)
    holder = join(["python3", "-c", _HOLDER, tok, str(timeout), str(max_hold)]) + ' "$PPID" ' + join(list(files))
    return (
        "mkdir -p %(dir)s && rm -f %(tok)s && { setsid %(holder)s </dev/null >/dev/null 2>&1 & }; "
        "i=0; while :; do s=$(cat %(tok)s 2>/dev/null); case \"$s\" in held) exit 0;; busy*) rm -f %(tok)s; "
        "echo \"another mvm run holds ${s#busy }; gave up after %(t)gs\" >&2; exit 1;; esac; "
        "i=$((i+1)); [ $i -gt %(ticks)d ] && { echo 'the lock holder did not start' >&2; exit 1; }; sleep 0.1; done"
    ) % {"dir": quote(os.path.dirname(files[0])), "tok": quote(tok), "holder": holder, "t": timeout,
         "ticks": int(timeout * 10) + 100}


def release_command(files: Sequence[str], token: str) -> str:
    """The holder sees its token gone and exits, which releases the locks."""
    return "rm -f %s" % quote(token_path(files, token))


def releasing(command: str, files: Sequence[str], token: str) -> str:
    """A step that lets go of the locks if it fails (pyinfra stops at a failed command)."""
    return "( %s\n) || { rc=$?; %s; exit $rc; }" % (command, release_command(files, token))
