"""Volumes for real under QEMU: a file the guest writes survives a memory change, the VM's absent and its
recreation, and is gone only after the volume's own absent; a root disk grows with disk_size and never shrinks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError, SpecError
from tests.conftest import need_dockerd
from tests.real.conftest import engine_apply, host_facts, seed_image, wait_for

# Each boot appends a line to the volume and prints how many lines it holds.
WRITER = "n=$(cat /data/boots 2>/dev/null | wc -l); echo boot-$n >> /data/boots; sync; echo MVM-BOOTS $((n+1)); " \
         "df -m / | tail -n 1; exec sleep 3600"


def vm(root: Path, **extra) -> dict:
    return dict({"name": "keeper", "image": "default", "backend": "qemu", "state_root": str(root),
                 "command": ["sh", "-c", WRITER], "volumes": [{"name": "data", "size": "32M", "mount": "/data"}]},
                **extra)


def boots(root: Path) -> int:
    """The count the guest printed on its latest boot."""
    lines = [ln for ln in (root / "vms/keeper/console.log").read_text().splitlines() if ln.startswith("MVM-BOOTS")]
    return int(lines[-1].split()[1]) if lines else 0


def wait_boots(root: Path, n: int) -> None:
    wait_for(lambda: (root / "vms/keeper/console.log").exists() and boots(root) == n, 30, "boot %d" % n)


@pytest.fixture(scope="module")
def root(module_root: Path, built_image: Path) -> Path:
    seed_image(built_image, module_root)
    return module_root


def test_a_volume_keeps_the_guests_data_across_restart_absent_and_recreation(root: Path) -> None:
    plan = engine_apply("vm", vm(root))
    assert "create volume data (32 MiB)" in [s.description for s in plan.steps]
    wait_boots(root, 1)
    volume_file = root / "volumes/data.ext4"
    assert volume_file.stat().st_mode & 0o777 == 0o600
    assert not engine_apply("vm", vm(root)).changed

    plan = engine_apply("vm", vm(root, memory=320))  # a restart on the same disks
    assert plan.steps[0].description == "stop VM keeper to apply: memory_mib"
    wait_boots(root, 2)

    engine_apply("vm", vm(root, state="absent"))
    assert volume_file.exists() and not (root / "vms/keeper").exists()
    engine_apply("vm", vm(root))
    wait_boots(root, 3)

    with pytest.raises(MvmError) as caught:
        engine_apply("volume", {"name": "data", "state": "absent", "state_root": str(root)})
    assert "still attached to VM keeper" in str(caught.value)
    engine_apply("vm", vm(root, state="absent"))
    plan = engine_apply("volume", {"name": "data", "state": "absent", "state_root": str(root)})
    assert [s.description for s in plan.steps] == ["delete volume data (32 MiB)"]
    assert not volume_file.exists()
    engine_apply("vm", vm(root))
    wait_boots(root, 1)  # a new, empty volume


def test_a_bigger_volume_and_disk_grow_and_never_shrink(root: Path) -> None:
    plan = engine_apply("vm", vm(root, volumes=[{"name": "data", "size": "48M", "mount": "/data"}], disk_size="96M"))
    assert [s.description for s in plan.steps][:4] == [
        "stop VM keeper to apply: disk_size_mib, volumes", "grow the VM's disk to 96 MiB",
        "grow volume data from 32 to 48 MiB", "record applied spec"]
    wait_boots(root, 2)  # the data survived the growth
    assert host_facts(root)["volumes"]["data"]["size_mib"] == 48
    df = [ln for ln in (root / "vms/keeper/console.log").read_text().splitlines() if ln.startswith("/dev/root")
          or ln.startswith("/dev/vda")][-1].split()
    assert 80 <= int(df[1]) <= 96  # the guest sees the grown root file system
    plan = engine_apply("vm", vm(root, volumes=[{"name": "data", "size": "40M", "mount": "/data"}], disk_size="96M"))
    assert any("never shrink" in w for w in plan.warnings)
    with pytest.raises(SpecError) as caught:
        engine_apply("vm", vm(root, disk_size="64M"))
    assert caught.value.field == "disk_size"
    engine_apply("vm", vm(root, state="absent"))
    engine_apply("volume", {"name": "data", "state": "absent", "state_root": str(root)})


def test_a_docker_vms_volume_is_a_directory_kept_across_removal(root: Path) -> None:
    need_dockerd()
    params = {"name": "dkeep", "image": "default", "backend": "docker", "state_root": str(root),
              "command": ["sh", "-c", WRITER], "volumes": [{"name": "ddata", "mount": "/data"}]}

    def boots_in_logs() -> int:
        out = subprocess.run(["docker", "logs", "mvm-dkeep"], capture_output=True, text=True).stdout
        found = [ln for ln in out.splitlines() if ln.startswith("MVM-BOOTS")]
        return int(found[-1].split()[1]) if found else 0

    try:
        plan = engine_apply("vm", params)
        assert "create volume ddata (a directory)" in [s.description for s in plan.steps]
        wait_for(lambda: boots_in_logs() == 1, 30, "the first boot in the container")
        assert (root / "volumes/ddata.d/boots").read_text() == "boot-0\n"
        engine_apply("vm", dict(params, state="absent"))
        assert (root / "volumes/ddata.d").is_dir()
        engine_apply("vm", params)
        wait_for(lambda: boots_in_logs() == 2, 30, "the second boot in a new container")
        with pytest.raises(SpecError) as caught:  # one volume, one VM at a time
            engine_apply("vm", dict(params, name="other"))
        assert caught.value.field == "volumes[0].name"
    finally:
        engine_apply("vm", dict(params, state="absent"))
    with pytest.raises(SpecError) as caught:  # one name is a directory or a disk, not both
        engine_apply("vm", dict(params, name="other", backend="qemu"))
    assert caught.value.field == "volumes"
    engine_apply("volume", {"name": "ddata", "state": "absent", "state_root": str(root)})
    assert not (root / "volumes/ddata.d").exists()
