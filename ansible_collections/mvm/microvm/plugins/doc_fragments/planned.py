# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  planned:
    description:
      - Set by the collection's action plugin, not by hand. In check mode, what the earlier tasks of the play only
        planned on this host (an image built, a bridge made, a snapshot taken), so that a later task plans on it
        instead of failing because it does not exist yet. Ignored outside check mode.
    type: dict
"""
