# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible lookup plugin: a fleet file, validated on the controller (plugin_utils/fleet.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet
short_description: Read and validate an mvm fleet file (tenants and pools) on the controller
description:
  - Reads each fleet file given, validates it (types, unknown keys, required fields, unique names, every pool's
    tenant, total quotas, and every pool's VM options as M(mvm.microvm.vm) reads them) and returns it as a
    dictionary with C(tenants) and C(pools), defaults filled in.
  - With O(pool) or O(tenant), returns that one entry instead of the whole file.
  - An error names the file, the line and the field, before any host is touched.
  - The same models serve pyinfra deploys (C(mvm_pyinfra.fleet.load_pool_spec), C(load_tenant_config)); the JSON
    Schema for editors is C(schemas/fleet.schema.json) (C(make schema)).
author:
  - mvm developers (@mvm-dev)
version_added: 0.1.0
requirements:
  - pydantic >= 2 and ruamel.yaml on the controller
options:
  _terms:
    description: Paths of fleet files (relative paths are found as Ansible finds files for lookups).
    required: true
    type: list
    elements: path
  pool:
    description: Return only the pool of this name.
    type: str
  tenant:
    description: Return only the tenant of this name.
    type: str
notes:
  - Runs on the controller only; nothing is sent to a host.
seealso:
  - module: mvm.microvm.vms
"""

EXAMPLES = r"""
- name: Every pool of the fleet
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.instances }} instances"
  loop: "{{ lookup('mvm.microvm.fleet', 'inventory/fleet.yml').pools }}"

- name: One pool, validated with the whole file
  ansible.builtin.set_fact:
    web: "{{ lookup('mvm.microvm.fleet', 'inventory/fleet.yml', pool='web') }}"
"""

RETURN = r"""
_raw:
  description:
    - One entry per file; a dictionary with C(tenants) and C(pools) (lists), or the one pool or tenant asked for.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.mvm.microvm.plugins.plugin_utils import fleet


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        pool, tenant = self.get_option("pool"), self.get_option("tenant")
        if pool and tenant:
            raise AnsibleLookupError("give pool or tenant, not both")
        results = []
        for term in terms:
            path = self.find_file_in_search_path(variables, "files", term)
            if not path:
                raise AnsibleLookupError("fleet file not found: %s" % term)
            try:
                if pool:
                    results.append(fleet.load_pool_spec(path, pool).model_dump())
                elif tenant:
                    results.append(fleet.load_tenant_config(path, tenant).model_dump())
                else:
                    results.append(fleet.load(path).model_dump())
            except fleet.FleetError as exc:
                raise AnsibleLookupError(str(exc)) from None
        return results
