# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  state_root:
    description:
      - Directory that holds mvm's state on the target (VM directories, images, artifacts).
      - Defaults to C(/var/lib/mvm) for root, else C($XDG_STATE_HOME/mvm) (C(~/.local/state/mvm)).
    type: path
"""
