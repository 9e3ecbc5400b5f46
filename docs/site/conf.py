# Sphinx configuration of mvm.microvm's documentation site (made with antsibull-docs sphinx-init, then made to
# build offline): `make docs` copies this directory to build/docs and runs build.sh there; HTML in build/docs/build/html.
#
# Links to the Ansible documentation resolve through ansible_offline.inv, which this file writes from ANSIBLE_LABELS:
# the build machines reach no documentation site (intersphinx would warn, and warnings fail the build), and the
# collection's pages refer to only these few targets. A page that refers to another one fails the build, so it is
# added here.

import os
import zlib

project = 'mvm.microvm'
copyright = 'mvm developers'

title = 'mvm.microvm documentation'
html_short_title = 'mvm.microvm'

extensions = ['sphinx.ext.autodoc', 'sphinx.ext.intersphinx', 'sphinx_antsibull_ext']

pygments_style = 'ansible'

highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False

display_version = False

html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/devel/'
# name, domain:role, uri (relative to ANSIBLE_DOCS), title
ANSIBLE_LABELS = [
    ('action_plugins', 'std:label', 'plugins/action.html#action-plugins', 'Action plugins'),
    ('common_return_values', 'std:label', 'reference_appendices/common_return_values.html#common-return-values',
     'Return Values'),
    ('ansible_configuration_settings', 'std:label', 'reference_appendices/config.html#ansible-configuration-settings',
     'Ansible Configuration Settings'),
    ('ansible_collections.ansible.builtin.include_tasks_module', 'std:label',
     'collections/ansible/builtin/include_tasks_module.html#ansible-collections-ansible-builtin-include-tasks-module',
     'ansible.builtin.include_tasks module'),
    ('ANSIBLE_PIPELINING', 'std:envvar', 'reference_appendices/config.html#envvar-ANSIBLE_PIPELINING', '-'),
]


def _write_inventory(path):
    """An intersphinx inventory (format 2) of ANSIBLE_LABELS."""
    body = ''.join('%s %s -1 %s %s\n' % entry for entry in ANSIBLE_LABELS)
    with open(path, 'wb') as out:
        out.write(b'# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n'
                  b'# The remainder of this file is compressed using zlib.\n' + zlib.compress(body.encode()))


_INVENTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ansible_offline.inv')
_write_inventory(_INVENTORY)

intersphinx_mapping = {
    'ansible_devel': (ANSIBLE_DOCS, _INVENTORY),
}

default_role = 'any'

nitpicky = True
