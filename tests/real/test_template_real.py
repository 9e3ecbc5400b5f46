"""Template snapshots for real: two instances restored from one snapshot run side by side, each on its
own address with its own disk, inside a network namespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.real.conftest import PLAYBOOKS, ansible_playbook, qmp, seed_image
from tests.real.netns import Netns


@pytest.fixture(scope="module")
def instances(ns: Netns, tmp_path_factory, built_image: Path):
    root = tmp_path_factory.mktemp("tpl")
    seed_image(built_image, root)
    before = ns.links()
    rc, out, changed = ansible_playbook(PLAYBOOKS / "template_up.yml", root, ns=ns)
    assert rc == 0, out
    yield root, out, changed, before
    ansible_playbook(PLAYBOOKS / "template_down.yml", root, ns=ns)


def test_template_and_two_instances_come_up(instances) -> None:
    root, out, changed, _ = instances
    assert changed == 3, out  # bridge, template, the instances (one looped task)
    assert not (root / "vms/tpl-web").exists()  # the builder is gone
    assert (root / "snapshots/web/metadata.json").exists()


def test_each_instance_has_its_own_address_and_disk(instances, ns: Netns) -> None:
    root, _, _, _ = instances
    disks = set()
    for name, ip in (("web-a", "10.77.0.2"), ("web-b", "10.77.0.3")):
        console = (root / f"vms/{name}/console.log").read_text()
        assert f"MVM-NET configured {ip}/24" in console and f"MVM-READY {name}" in console
        assert ns.exec("ping", "-c", "1", "-W", "3", ip, check=False).returncode == 0, name
        blocks = qmp(root / f"vms/{name}/qmp.sock", "query-block")
        disks.add(blocks[0]["inserted"]["file"])
    assert disks == {str(root / "vms/web-a/disk.ext4"), str(root / "vms/web-b/disk.ext4")}


def test_second_run_changes_nothing(instances, ns: Netns) -> None:
    root, _, _, _ = instances
    rc, out, changed = ansible_playbook(PLAYBOOKS / "template_up.yml", root, ns=ns)
    assert rc == 0 and changed == 0, out


def test_removal_leaves_nothing(instances, ns: Netns) -> None:
    root, _, _, before = instances
    rc, out, changed = ansible_playbook(PLAYBOOKS / "template_down.yml", root, ns=ns)
    assert rc == 0 and changed == 3, out
    assert ns.links() == before
    assert not (root / "vms").exists() and not (root / "snapshots").exists() and not (root / "networks").exists()
