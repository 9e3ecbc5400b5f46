# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs mvm.microvm.firecracker_install as ansible-core's normal action does, with its payload kept between runs
(see plugin_utils.ansiballz_cache)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mvm.microvm.plugins.plugin_utils.ansiballz_cache import normal_action

ActionModule = normal_action()
