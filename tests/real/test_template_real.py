"""Template snapshots for real: two instances restored from one snapshot run side by side, each on its
own address with its own disk, inside a network namespace."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import need_qemu, need_root
from tests.real.conftest import BIN, ENV, qmp, seed_image
from tests.real.netns import Netns

PLAYBOOKS = Path(__file__).parent / "playbooks"


@pytest.fixture(scope="module")
def ns() -> Iterator[Netns]:
    need_root()
    need_qemu()
    netns = Netns.create()
    yield netns
    netns.destroy()


def playbook(ns: Netns, name: str, root: Path, *extra: str) -> tuple[int, str, int]:
    proc = ns.exec(str(BIN / "ansible-playbook"), str(PLAYBOOKS / name), "-e", f"mvm_state_root={root}", *extra,
                   check=False, env=ENV, cwd="/")
    out = proc.stdout + proc.stderr
    match = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", out)
    return proc.returncode, out, int(match.group(1)) if match else -1


@pytest.fixture(scope="module")
def instances(ns: Netns, tmp_path_factory, built_image: Path):
    root = tmp_path_factory.mktemp("tpl")
    seed_image(built_image, root)
    before = ns.links()
    rc, out, changed = playbook(ns, "template_up.yml", root)
    assert rc == 0, out
    yield root, out, changed, before
    playbook(ns, "template_down.yml", root)


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
    rc, out, changed = playbook(ns, "template_up.yml", root)
    assert rc == 0 and changed == 0, out


def test_removal_leaves_nothing(instances, ns: Netns) -> None:
    root, _, _, before = instances
    rc, out, changed = playbook(ns, "template_down.yml", root)
    assert rc == 0 and changed == 3, out
    assert ns.links() == before
    assert not (root / "vms").exists() and not (root / "snapshots").exists() and not (root / "networks").exists()
