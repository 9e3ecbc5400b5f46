# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A QMP client small enough to travel inside a shell command (`python3 -c`)."""
from __future__ import absolute_import, division, print_function, annotations

__metaclass__ = type

from typing import Sequence

from ansible_collections.mvm.microvm.plugins.module_utils.shell import join

# Arguments: socket path, then QMP commands (a name, or a JSON object for commands with arguments).
_CLIENT = """import json,socket,sys
s=socket.socket(socket.AF_UNIX);s.settimeout(30);s.connect(sys.argv[1]);f=s.makefile('rw')
f.readline()
for c in ['qmp_capabilities']+sys.argv[2:]:
    f.write((c if c.startswith('{') else json.dumps({'execute':c}))+'\\n');f.flush()
    while True:
        line=f.readline()
        if not line: sys.exit('qmp: connection closed')
        r=json.loads(line)
        if 'return' in r or 'error' in r: break
    if 'error' in r: sys.exit('qmp: %s' % r['error'].get('desc'))
    if c!='qmp_capabilities': print(json.dumps(r['return']))
"""


def command(socket_path: str, commands: Sequence[str]) -> str:
    """A shell command that sends QMP commands and prints each reply as one JSON line."""
    return join(["python3", "-c", _CLIENT, socket_path] + list(commands))
