"""The suite's own rules (issue #22): under any truthy CI a skip fails the run, module-level skips and
importorskip included; `make test-fast` (-m "not real") collects nothing that boots a VM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SKIPPING = {
    "test_skip_inside.py": "import pytest\n\ndef test_x():\n    pytest.skip('no tool')\n",
    "test_skip_module.py": "import pytest\npytest.skip('no tool', allow_module_level=True)\n\ndef test_x():\n    pass\n",
    "test_importorskip.py": "import pytest\npytest.importorskip('no_such_module_mvm')\n\ndef test_x():\n    pass\n",
}


def _pytest(directory: Path, ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                           "tests.support.ci_rule", "--rootdir", str(directory), str(directory)],
                          capture_output=True, text=True, env=env, cwd=directory)


@pytest.mark.parametrize("name", sorted(SKIPPING))
@pytest.mark.parametrize("ci", ["true", "1", "yes", "TRUE"])
def test_a_skip_fails_under_any_truthy_ci(tmp_path: Path, name: str, ci: str) -> None:
    (tmp_path / name).write_text(SKIPPING[name])
    proc = _pytest(tmp_path, ci)
    assert proc.returncode != 0, proc.stdout
    assert "counts as a failure" in proc.stdout, proc.stdout


@pytest.mark.parametrize("ci", [None, "", "0", "false"])
def test_a_skip_is_a_skip_outside_ci(tmp_path: Path, ci: str | None) -> None:
    (tmp_path / "test_skip_inside.py").write_text(SKIPPING["test_skip_inside.py"])
    proc = _pytest(tmp_path, ci)
    assert proc.returncode == 0 and "1 skipped" in proc.stdout, proc.stdout


def test_test_fast_collects_nothing_that_boots_a_vm() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not real", "-p",
                           "no:cacheprovider"], capture_output=True, text=True, cwd=REPO)
    collected = [line for line in proc.stdout.splitlines() if "::" in line]
    assert collected and not [line for line in collected if line.startswith("tests/real/")], proc.stdout[-2000:]
    real = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "real", "-p",
                           "no:cacheprovider"], capture_output=True, text=True, cwd=REPO)
    assert all(line.startswith("tests/real/") for line in real.stdout.splitlines() if "::" in line)


def test_the_host_roles_argument_specs_say_what_its_defaults_say() -> None:
    """Role argument specs (ansible-doc -t role) and defaults/main.yml name the same variables with the same
    defaults, and the backend's choices are the engine's (registry.CHOICES): one list, checked."""
    import yaml

    from ansible_collections.mvm.microvm.plugins.module_utils.registry import CHOICES

    role = REPO / "ansible_collections/mvm/microvm/roles/host"
    defaults = yaml.safe_load((role / "defaults/main.yml").read_text())
    options = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults)
    assert {k: v.get("default") for k, v in options.items()} == defaults
    assert options["host_backend"]["choices"] == list(CHOICES)


def test_the_host_role_installs_every_tool_an_image_build_takes_from_the_host() -> None:
    """The role's image packages hold the engine's table (image.HOST_TOOLS), from which the doctor's check is
    made: the Molecule scenario found the role without qemu-guest-agent, and rootfs failing on a provisioned
    host."""
    import yaml

    from ansible_collections.mvm.microvm.plugins.module_utils import doctor, image

    defaults = yaml.safe_load((REPO / "ansible_collections/mvm/microvm/roles/host/defaults/main.yml").read_text())
    assert set(image.HOST_TOOLS.values()) <= set(defaults["host_image_packages"])
    assert doctor.IMAGE_TOOLS == tuple(image.HOST_TOOLS)


def test_the_execution_environment_files_name_what_the_controller_side_imports() -> None:
    """meta/execution-environment.yml points at requirements.txt and bindep.txt, which exist; requirements.txt
    lists the packages the controller-side plugins import (fleet files), each also a dependency of the package."""
    import re

    import tomllib
    import yaml

    root = REPO / "ansible_collections/mvm/microvm"
    ee = yaml.safe_load((root / "meta/execution-environment.yml").read_text())
    assert ee["version"] == 1
    for key in ("python", "system"):
        assert (root / ee["dependencies"][key]).is_file(), key
    wanted = [re.split(r"[<>=\s]", line, maxsplit=1)[0].lower() for line in (root / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    fleet = (root / "plugins/plugin_utils/fleet.py").read_text()
    assert wanted == ["pydantic", "ruamel.yaml"] and all("from %s" % w in fleet for w in wanted)
    package = [re.split(r"[<>=\s\[]", d, maxsplit=1)[0].lower()
               for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]]
    assert set(wanted) <= set(package)


def test_the_firecracker_doc_fragment_documents_the_engines_options() -> None:
    """The `firecracker` suboptions (doc fragment shared by vm and vm_template) are the engine's options, with its
    defaults: ansible-doc says what the engine does."""
    import yaml

    from ansible_collections.mvm.microvm.plugins.doc_fragments.firecracker import ModuleDocFragment
    from ansible_collections.mvm.microvm.plugins.module_utils.firecracker import OPTION_DEFAULTS

    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]["firecracker"]["suboptions"]
    assert set(documented) == set(OPTION_DEFAULTS)
    for name, default in OPTION_DEFAULTS.items():
        assert documented[name].get("default") == (default if default not in ([], None) else None), name
