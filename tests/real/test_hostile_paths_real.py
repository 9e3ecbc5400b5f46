"""A state root whose path holds a space, a comma, quotes and `$(...)`, for real (issue #13, defects 6 and 16):
a QEMU guest boots (the comma reaches -drive, -chardev and -qmp escaped as ',,'), is seen by the probe (its
socket list quoted), is snapshotted (the migration's `exec:cat > PATH` quoted), restored and removed; no
value ever runs as shell."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.real.conftest import engine_apply, host_facts, processes_under, qmp, seed_image, wait_for


def test_a_hostile_state_root_boots_snapshots_restores_and_goes(built_image: Path) -> None:
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="mvmh-", dir="/tmp"))  # short: QEMU's socket paths are bounded
    canary = base / "p"
    root = base / ("a b,c'd\"$(touch %s)" % canary)
    seed_image(built_image, root)
    params = {"name": "h", "image": "default", "backend": "qemu", "state_root": str(root)}
    try:
        engine_apply("vm", params)
        vm_dir = root / "vms" / "h"
        assert "MVM-READY h" in (vm_dir / "console.log").read_text()
        facts = host_facts(root)["vms"]["h"]
        assert facts["state"] == "running" and facts["vmm_status"] == "running" and facts["ready"]
        assert qmp(vm_dir / "qmp.sock", "query-status")["status"] == "running"
        engine_apply("snapshot", {"name": "s", "vm": "h", "state_root": str(root)})
        assert (root / "snapshots/s/memory.bin").stat().st_size > 0
        # Every file, socket and directory mvm made is its owner's alone (the root: 0711) (#13, defect 10).
        loose = [(str(p.relative_to(root)), oct(p.lstat().st_mode)) for p in root.rglob("*")
                 if not p.is_symlink() and p.lstat().st_mode & 0o077]
        assert loose == [] and oct(root.stat().st_mode)[-3:] == "711", loose
        os.chmod(base, 0o711)
        proc = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(root / "snapshots/s/memory.bin")],
                              capture_output=True, text=True)
        assert proc.returncode != 0 and "Permission denied" in proc.stderr
        engine_apply("vm", dict(params, state="absent"))
        engine_apply("snapshot", {"name": "s", "state": "restored", "state_root": str(root)})
        wait_for(lambda: host_facts(root)["vms"]["h"]["state"] == "running", 30, "the restored guest")
        engine_apply("vm", dict(params, state="absent"))
        engine_apply("snapshot", {"name": "s", "state": "absent", "state_root": str(root)})
        assert processes_under(root) == [] and not (root / "vms").exists()
        assert not canary.exists()
    finally:
        from tests.real.conftest import kill_under

        kill_under(root)
        shutil.rmtree(base, ignore_errors=True)
