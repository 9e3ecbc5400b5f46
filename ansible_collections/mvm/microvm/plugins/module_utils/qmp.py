# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A QMP client small enough to travel inside a shell command (`python3 -c`).

Modes (first argument after the program):
  run SOCK CMD...        send commands (a name, or a JSON object), print each reply as a JSON line
  status NAME=SOCK...    print `vm<TAB>NAME<TAB>status<TAB>STATUS` for each VM that answers (probe use)
  save SOCK FILE         stop the guest, migrate its state to FILE, wait until done (guest stays stopped)
  incoming SOCK TIMEOUT  wait for an -incoming migration to finish, then resume the guest
  agent SOCK LINE        write one line to the guest agent's socket
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re
from typing import Any, Dict, Optional, Sequence

from ansible_collections.mvm.microvm.plugins.module_utils.shell import join, quote

# The client: connect (greeting, capabilities) and call (one command, its reply past any events). The program
# below runs it in a python3 of the host; query_status runs the same definitions in this process.
_CLIENT = r"""import json,socket,sys
def connect(path, timeout=30):
    s=socket.socket(socket.AF_UNIX);s.settimeout(timeout);s.connect(path);f=s.makefile('rw')
    f.readline();call(f,'qmp_capabilities');return f
def call(f,c):
    f.write((c if c.startswith('{') else json.dumps({'execute':c}))+'\n');f.flush()
    while True:
        line=f.readline()
        if not line: sys.exit('qmp: connection closed')
        r=json.loads(line)
        if 'return' in r or 'error' in r: break
    if 'error' in r: sys.exit('qmp: %s' % r['error'].get('desc'))
    return r['return']
"""
_PROGRAM = _CLIENT + r"""mode=sys.argv[1]
if mode=='run':
    f=connect(sys.argv[2])
    for c in sys.argv[3:]: print(json.dumps(call(f,c)))
elif mode=='status':
    for item in sys.argv[2:]:
        name,path=item.split('=',1)
        try: print('vm\t%s\tstatus\t%s' % (name, call(connect(path,2),'query-status')['status']))
        except (Exception, SystemExit): pass
elif mode=='save':
    import shlex,time
    f=connect(sys.argv[2]);call(f,'stop')
    call(f,json.dumps({'execute':'migrate','arguments':{'uri':'exec:cat > '+shlex.quote(sys.argv[3])}}))
    while True:
        st=call(f,'query-migrate').get('status')
        if st=='completed': break
        if st in ('failed','cancelled'): sys.exit('qmp: migration %s' % st)
        time.sleep(0.05)
elif mode=='incoming':
    import time
    f=connect(sys.argv[2]);end=time.time()+float(sys.argv[3])
    while call(f,'query-status')['status']=='inmigrate':
        if time.time()>end: sys.exit('qmp: incoming migration did not finish')
        time.sleep(0.05)
    if call(f,'query-status')['status']!='running': call(f,'cont')
elif mode=='agent':
    s=socket.socket(socket.AF_UNIX);s.settimeout(10);s.connect(sys.argv[2]);s.sendall((sys.argv[3]+'\n').encode());s.close()
"""


# The host's Python, isolated (-I: no PYTHON* variables, no user site) and without the site module (-S: no
# site-packages scan, which a virtual environment's .pth files make slow): the program needs the stdlib only, and
# the probe runs it on every converge of a host with QEMU guests (21 ms here instead of 40).
PYTHON = ("python3", "-I", "-S", "-c")


def command(socket_path: str, commands: Sequence[str]) -> str:
    """Send QMP commands; print each reply as one JSON line."""
    return join([*PYTHON, _PROGRAM, "run", socket_path] + list(commands))


def status_command(sockets: str, python: str = PYTHON[0]) -> str:
    """For the probe: `sockets` is shell text for the NAME=SOCK words (the probe's "$@"), `python` the shell text
    of the interpreter."""
    return "%s %s %s status %s" % (python, " ".join(PYTHON[1:]), quote(_PROGRAM), sockets)


def query_status(path: str, timeout: float = 2.0) -> Optional[str]:
    """The status `query-status` returns, asked from this process with the program's own client (_CLIENT): what
    the program's `status` mode prints, for a caller that is itself a Python on the host (an Ansible module), which
    so spares starting another. None when the VMM does not answer or answers something else."""
    client: Dict[str, Any] = {}
    exec(_CLIENT, client)  # noqa: S102 - this module's own text
    try:
        status = client["call"](client["connect"](path, timeout), "query-status").get("status")
    except (OSError, ValueError, AttributeError, SystemExit):  # the client exits on a QMP error, as a program
        return None
    return status if isinstance(status, str) and _STATUS.fullmatch(status) else None


_STATUS = re.compile(r"[a-z][a-z-]{0,31}")


def save_command(socket_path: str, path: str) -> str:
    return join([*PYTHON, _PROGRAM, "save", socket_path, path])


def incoming_command(socket_path: str, timeout: float) -> str:
    return join([*PYTHON, _PROGRAM, "incoming", socket_path, str(timeout)])


def agent_command(socket_path: str, line: str) -> str:
    return join([*PYTHON, _PROGRAM, "agent", socket_path, line])
