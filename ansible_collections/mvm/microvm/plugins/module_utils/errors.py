# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors the engine raises; front-ends turn them into a failed module or an OperationError."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type


class MvmError(Exception):
    """Anything the engine refuses to do."""


class SpecError(MvmError):
    """Bad input: names the field and the accepted form, raised before any command exists."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super(SpecError, self).__init__("%s: %s" % (field, message))
