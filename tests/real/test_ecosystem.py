"""What Ansible and pyinfra users judge a collection by: lint, ansible-test units, molecule, a galaxy tarball
that installs offline and runs up.yml, and every module in check mode changing nothing on a host that needs
changes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, need_qemu
from tests.real.conftest import BIN, ENV, processes_under, seed_image

LINT_PATHS = ["ansible_collections", "mvm_pyinfra", "tests", "playbooks", "inventory", "bench"]


def run(*argv: str, env: dict | None = None, cwd: Path | str = REPO, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, env=env or ENV, cwd=cwd, timeout=timeout)


def test_ruff_and_mypy_are_clean() -> None:
    proc = run(str(BIN / "ruff"), "check", *LINT_PATHS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run(str(BIN / "mypy"), "ansible_collections/mvm/microvm/plugins/module_utils",
               "ansible_collections/mvm/microvm/plugins/plugin_utils", "mvm_pyinfra")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ansible_lint_production_profile() -> None:
    proc = run(str(BIN / "ansible-lint"), "--profile", "production", "--offline", "playbooks/",
               "ansible_collections/mvm/microvm/playbooks/", "ansible_collections/mvm/microvm/roles/", "molecule/")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in proc.stdout + proc.stderr


def test_ansible_lint_production_profile_on_the_collection_root() -> None:
    """As a collection maintainer runs it: galaxy.yml (tags from Galaxy's list, license), meta, the whole tree."""
    root = REPO / "ansible_collections/mvm/microvm"
    assert (root / "LICENSE").read_text() == (REPO / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in (root / "LICENSE").read_text() and "Version 3" in (root / "LICENSE").read_text()
    proc = run(str(BIN / "ansible-lint"), "--profile", "production", "--offline", cwd=root)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in proc.stdout + proc.stderr


def test_ansible_test_units() -> None:
    proc = run(sys.executable, str(REPO / "tests/support/run_ansible_test.py"), "units")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert re.search(r"\d+ passed", out), out[-2000:]


def test_galaxy_tarball_installs_offline_and_runs_up(tmp_path: Path) -> None:
    need_qemu()
    proc = run(str(BIN / "ansible-galaxy"), "collection", "build", "ansible_collections/mvm/microvm",
               "--output-path", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarball = tmp_path / "mvm-microvm-0.1.0.tar.gz"
    cols = tmp_path / "cols"
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\nhost_key_checking = False\n")
    # Only the installed copy: no checkout on the collections path, none found through sys.path.
    env = dict(ENV, ANSIBLE_CONFIG=str(cfg), ANSIBLE_COLLECTIONS_PATH=str(cols), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    proc = run(str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p", str(cols), "--offline",
               env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (cols / "ansible_collections/mvm/microvm/plugins/module_utils/vm.py").exists(), proc.stdout
    root = tmp_path / "state"
    inventory = str(REPO / "inventory/hosts.yml")
    proc = run(str(BIN / "ansible-playbook"), "-i", inventory, "mvm.microvm.up", "-e", f"mvm_state_root={root}",
               env=env, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "changed=2" in out, out
    assert str(cols) in run(str(BIN / "ansible-doc"), "mvm.microvm.vm", env=env, cwd=tmp_path).stdout
    proc = run(str(BIN / "ansible-playbook"), "-i", inventory, "mvm.microvm.down", "-e", f"mvm_state_root={root}",
               env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert processes_under(root) == []


def test_molecule_default_scenario(tmp_path: Path) -> None:
    need_qemu()
    env = dict(ENV, MVM_MOLECULE_STATE_ROOT=str(tmp_path / "state"), MOLECULE_NO_LOG="false", NO_COLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    proc = run(str(BIN / "molecule"), "test", env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    for step in ("converge", "idempotence", "verify", "destroy"):
        assert re.search(rf"{step}\S*: \S*Executed: Successful", out), step
    assert processes_under(tmp_path / "state") == []


def test_every_module_in_check_mode_changes_nothing(tmp_path: Path, built_image: Path) -> None:
    """Against a host that needs changes: each task reports changed, and the host is as it was."""
    need_qemu()
    from tests.real.netns import Netns
    from tests.real.test_firecracker_install_real import make_release

    root = tmp_path / "state"
    seed_image(built_image, root)
    tarball, sha = make_release(tmp_path / "dl")
    ns = Netns.create()
    try:
        up = ns.exec(str(BIN / "ansible-playbook"), str(REPO / "tests/real/playbooks/check_base.yml"),
                     "-e", f"mvm_state_root={root}", check=False, env=ENV, cwd="/")
        assert up.returncode == 0, up.stdout + up.stderr

        def host_state() -> tuple:
            # A running guest writes its own disk and console; everything else must not move.
            files = sorted((str(p.relative_to(root)), 0 if p.name.endswith((".log", ".sock", "disk.ext4"))
                            else p.stat().st_mtime_ns) for p in root.rglob("*"))
            return files, ns.links(), ns.rules(), sorted(processes_under(root))

        before = host_state()
        proc = ns.exec(str(BIN / "ansible-playbook"), str(REPO / "tests/real/playbooks/check_all.yml"), "--check", "--diff",
                       "-e", f"mvm_state_root={root}", "-e", f"fc_src={tarball}", "-e", f"fc_sha={sha}",
                       "-e", f"bin_dir={tmp_path / 'bin'}", check=False, env=ENV, cwd="/")
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out
        assert re.search(r"localhost\s+: ok=9\s+changed=9\s", out), out  # every task would change the host
        assert out.count("--- before") >= 8 and out.count("+++ after") >= 8
        after = host_state()
        for got, want, what in zip(after, before, ("files", "links", "rules", "processes")):
            assert got == want, (what, sorted(set(map(str, got)) ^ set(map(str, want))))
        assert not (tmp_path / "bin").exists()
    finally:
        ns.exec(str(BIN / "ansible-playbook"), str(REPO / "tests/real/playbooks/check_base.yml"), "-e",
                f"mvm_state_root={root}", "-e", "base_state=absent", check=False, env=ENV, cwd="/")
        ns.destroy()


def test_pip_package_carries_the_collection(tmp_path: Path) -> None:
    """The wheel installs the collection as ansible_collections in site-packages, where Ansible finds it."""
    proc = run(str(BIN / "pip"), "wheel", ".", "--no-deps", "-q", "-w", str(tmp_path / "whl"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheel = next((tmp_path / "whl").glob("mvm_pyinfra-*.whl"))
    target = tmp_path / "site"
    proc = run(str(BIN / "pip"), "install", "--no-deps", "-q", "--target", str(target), str(wheel))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for leaf in ("meta/runtime.yml", "plugins/modules/vm.py", "plugins/module_utils/vm.py", "roles/host/tasks/main.yml",
                 "playbooks/vars/example.yml"):
        assert (target / "ansible_collections/mvm/microvm" / leaf).exists(), leaf
    assert (target / "mvm_pyinfra/operations.py").exists()
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\n")
    env = dict(ENV, PYTHONPATH=str(target), ANSIBLE_CONFIG=str(cfg), ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "none"))
    proc = run(str(BIN / "ansible-doc"), "mvm.microvm.vm", env=env, cwd=tmp_path)
    assert proc.returncode == 0 and str(target) in proc.stdout, proc.stdout[:2000] + proc.stderr


def test_pip_install_without_extras_gives_pyinfra_operations_and_facts_without_ansible(tmp_path: Path) -> None:
    """A pyinfra user's install: `pip install .` into a fresh virtual environment, no extras. ansible-core is not
    there, the MvmHost fact reads this host, and a deploy of rootfs + vm plans (--dry) without changing anything;
    the package and the collection carry one version (galaxy.yml's)."""
    venv, root = tmp_path / "venv", tmp_path / "st"
    assert run(sys.executable, "-m", "venv", str(venv)).returncode == 0
    proc = run(str(venv / "bin" / "pip"), "install", "-q", str(REPO), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    py = str(venv / "bin" / "python")
    proc = run(py, "-c", "import ansible", cwd="/")
    assert proc.returncode != 0 and "No module named 'ansible'" in proc.stderr, proc.stderr
    galaxy = (REPO / "ansible_collections/mvm/microvm/galaxy.yml").read_text()
    proc = run(py, "-c", "import mvm_pyinfra, importlib.metadata as m; print(mvm_pyinfra.__version__, m.version('mvm-pyinfra'))",
               cwd="/")
    version = re.search(r"^version:\s*(\S+)", galaxy, re.M).group(1)  # type: ignore[union-attr]
    assert proc.stdout.split() == [version, version], proc.stdout + proc.stderr
    env = dict(ENV, PATH="%s:%s" % (venv / "bin", ENV["PATH"]))
    proc = run(str(venv / "bin" / "pyinfra"), "@local", "fact", "mvm_pyinfra.facts.MvmHost", f"state_root={root}",
               env=env, cwd="/")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and '"probe_version"' in out and '"chosen"' in out, out[-3000:]
    deploy = tmp_path / "deploy.py"
    deploy.write_text("from mvm_pyinfra import operations as mvm\n"
                      f"mvm.rootfs(name='image', image='default', kernel='debian', state_root={str(root)!r})\n"
                      f"mvm.vm(name='vm', vm='web', image='default', backend='qemu', state_root={str(root)!r})\n")
    proc = run(str(venv / "bin" / "pyinfra"), "@local", str(deploy), "--dry", env=env, cwd="/")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "will start VM web" in out, out[-3000:]
    assert not root.exists()


def test_make_docs_builds_the_site_without_a_warning() -> None:
    """`make docs`: antsibull-docs writes the collection's pages, Sphinx builds them with warnings as errors,
    offline (the Ansible labels the pages refer to resolve through the site's own inventory)."""
    html = REPO / "build/docs/build/html"
    proc = run("make", "docs", timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # sphinx-build -W: a warning fails the build; "build succeeded" is Sphinx's word for none.
    assert "build succeeded." in proc.stdout + proc.stderr
    pages = {p.name for p in (html / "collections/mvm/microvm").glob("*.html")}
    assert {"vm_module.html", "facts_module.html", "vm_connection.html", "vms_inventory.html", "fleet_lookup.html",
            "host_role.html"} <= pages, sorted(pages)
    assert "firecracker/jailer_id" in (html / "collections/mvm/microvm/vm_module.html").read_text()  # suboptions


def test_the_changelog_is_generated_from_its_fragments(tmp_path: Path) -> None:
    """antsibull-changelog: the fragments lint clean, CHANGELOG.md is what `generate` makes of changelog.yaml, and
    a release turns every pending fragment into the changelog."""
    import shutil

    import yaml

    root = REPO / "ansible_collections/mvm/microvm"
    copy = tmp_path / "ansible_collections/mvm/microvm"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("output", "__pycache__"))
    tool = str(BIN / "antsibull-changelog")
    proc = run(tool, "lint", cwd=copy)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    proc = run(tool, "generate", cwd=copy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (copy / "CHANGELOG.md").read_text() == (root / "CHANGELOG.md").read_text()
    pending = [text for f in sorted((root / "changelogs/fragments").glob("*.yml"))
               for items in yaml.safe_load(f.read_text()).values() for text in items]
    assert pending
    proc = run(tool, "release", "--version", "0.2.0", "--date", "2026-11-28", cwd=copy,
               env=dict(ENV, ANSIBLE_COLLECTIONS_PATH=str(tmp_path)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    released = (copy / "CHANGELOG.md").read_text().replace("\\", "")
    for text in pending:
        assert text.split(" - ")[-1][:40].replace("``", "") in re.sub(r"</?code>", "", released), text
    assert not list((copy / "changelogs/fragments").glob("*.yml"))
