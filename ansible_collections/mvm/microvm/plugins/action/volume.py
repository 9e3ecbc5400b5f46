# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs mvm.microvm.volume; in check mode, hands it what earlier tasks only planned (see plugin_utils.planned_action)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mvm.microvm.plugins.plugin_utils.planned_action import ActionModule  # noqa: F401 pylint: disable=unused-import
