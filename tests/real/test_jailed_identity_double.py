"""A jailed Firecracker VM's identity, against a process DOUBLE (issue #13, defect 4).

No Firecracker runs on this machine. The double is a copy of the Python interpreter installed as
`firecracker`, started with the arguments the jailer gives Firecracker (`--id ID ...`): what the engine
checks (executable name, exact argv element, start time) is real; nothing here suggests a microVM booted.
The pid file sits in the chroot, where the VM's own user could write it: a stranger's pid there is ignored.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ansible_collections.mvm.microvm.plugins.module_utils import firecracker
from tests.conftest import need_root
from tests.real.conftest import engine_apply, host_facts, sh


def _double(bindir: Path, jailer_id: str) -> subprocess.Popen:
    exe = bindir / "firecracker"
    if not exe.exists():
        shutil.copy2(os.path.realpath(sys.executable), exe)
    return subprocess.Popen([str(exe), "-c", "import time; time.sleep(300)", "--id", jailer_id,
                             "--api-sock", "/run/firecracker.socket"])


def test_a_jailed_vmm_is_found_by_its_jailer_id_and_stopped(tmp_path: Path) -> None:
    need_root()
    root, bindir = tmp_path / "state", tmp_path / "bin"
    bindir.mkdir()
    opts = firecracker.options({"jailer": True, "jailer_id": "web-1", "uid": 10000, "gid": 10000,
                                "chroot_base": str(tmp_path / "jail")})
    applied = {"format": 1, "name": "web", "backend": "firecracker", "arch": "x86_64", "memory_mib": 256, "cpus": 1,
               "kernel": "/k", "initrd": None, "rootfs": "/r", "image": None, "image_id": None, "kernel_args": "",
               "hostname": "web", "network": None, "ports": [],
               "firecracker": {"api": True, "enable_pci": False, "vsock_cid": None, "jailer": True,
                               "jailer_id": "web-1", "uid": 10000, "gid": 10000, "uid_base": 10000,
                               "chroot_base": str(tmp_path / "jail"), "cgroup_version": 2, "netns": None,
                               "seccomp_filter": None, "drives": []}}
    vm_dir = root / "vms" / "web"
    vm_dir.mkdir(parents=True)
    (vm_dir / "spec.json").write_text(json.dumps(applied))
    paths = firecracker.layout(str(vm_dir), applied, opts)
    Path(paths["jail"]).mkdir(parents=True)
    double = _double(bindir, "web-1")
    later = None
    try:
        Path(paths["pid"]).write_text(str(double.pid))
        (vm_dir / "pid").symlink_to(paths["pid"])
        rc, _out, err = sh(firecracker.record_command(applied, opts, str(vm_dir), paths))
        assert rc == 0, err
        vm = host_facts(root)["vms"]["web"]
        assert vm["pid"] == double.pid and vm["state"] == "running"

        # The VM's user writes another pid into the chroot: a process of root's, then a second double with the
        # same arguments (started after the record: another start time). Neither is taken for the VMM.
        for stranger in (os.getpid(), None):
            if stranger is None:
                time.sleep(0.05)  # start times count in clock ticks (10 ms)
                later = _double(bindir, "web-1")
                stranger = later.pid
            Path(paths["pid"]).write_text(str(stranger))
            vm = host_facts(root)["vms"]["web"]
            assert vm["pid"] is None and vm["stale_pid"], stranger
        assert later is not None
        engine_apply("vm", {"name": "web", "state": "absent", "state_root": str(root)})
        assert later.poll() is None and double.poll() is None  # a stale pid kills nobody
        assert not Path(paths["jail"]).exists() and not vm_dir.exists()

        # Once more with the real pid: absent stops the double, then removes the chroot.
        vm_dir.mkdir(parents=True)
        (vm_dir / "spec.json").write_text(json.dumps(applied))
        Path(paths["jail"]).mkdir(parents=True)
        Path(paths["pid"]).write_text(str(double.pid))
        (vm_dir / "pid").symlink_to(paths["pid"])
        rc, _out, err = sh(firecracker.record_command(applied, opts, str(vm_dir), paths))
        assert rc == 0, err
        engine_apply("vm", {"name": "web", "state": "absent", "state_root": str(root)})
        double.wait(timeout=10)
        assert later.poll() is None and not Path(paths["jail"]).exists()
    finally:
        for proc in (double, later):
            if proc is not None and proc.poll() is None:
                proc.kill()
