# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-test units: the engine as Ansible ships it (validation, quoting, the probe parser)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import backends, probe, shell, spec
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError


@pytest.mark.parametrize("value,mib", [(512, 512), ("512M", 512), ("1G", 1024), ("2GiB", 2048), ("64", 64)])
def test_sizes(value, mib):
    assert spec.vm_spec({"name": "a", "image": "x", "memory": value}).memory_mib == mib


@pytest.mark.parametrize("params,field", [
    ({"name": "a/b", "image": "x"}, "name"),
    ({"name": "a", "image": "x", "memory": "lots"}, "memory"),
    ({"name": "a", "image": "x", "cpus": 0}, "cpus"),
])
def test_bad_input_names_the_field(params, field):
    with pytest.raises(SpecError) as err:
        spec.vm_spec(params)
    assert err.value.field == field


def test_quoting_round_trips_through_a_shell_word():
    assert shell.quote("it's") == "'it'\"'\"'s'"
    assert shell.quote("/plain/path") == "/plain/path"


def test_pvm_kvm_is_not_usable_and_qemu_is_the_last_resort():
    facts = probe.parse_host("host\tos\tLinux\nhost\tarch\tx86_64\nhost\tkvm_present\t1\nhost\tkvm_rw\t1\n"
                             "host\tkvm_module\tkvm_pvm\ntool\tqemu-system-x86_64\tpath\t/usr/bin/qemu-system-x86_64\n")
    assert facts["kvm"]["usable"] is False
    assert backends.select(facts)[0] == "qemu"
