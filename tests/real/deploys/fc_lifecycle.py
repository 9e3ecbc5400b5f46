"""pyinfra twin of playbooks/fc_lifecycle.yml (against the Firecracker and jailer PROCESS DOUBLES; no guest boots)."""

from pyinfra import host

from mvm_pyinfra import operations as mvm

root = host.data.get("mvm_state_root")
phase = host.data.get("phase") or "up"
fc = {"chroot_base": host.data.chroot_base}
down, change = phase == "down", phase == "change"
if not down:
    mvm.bridge(name="Bridge", bridge="fcbr0", subnet="10.79.0.0/24", nat=True, state_root=root)
mvm.vm(name="Jailed VM", vm="jl", image="default", network="fcbr0", ports=["18080:80"],
       firecracker=dict(fc, snapshot_type="Diff", vsock_cid=3),
       state={"up": "running", "change": "paused", "down": "absent"}[phase], state_root=root)
mvm.vm(name="Config-file VM", vm="cf", image="default", backend="firecracker",
       firecracker={"api": False, "jailer": False},
       state=host.data.get("cf_state") or {"up": "running", "change": "stopped", "down": "absent"}[phase],
       state_root=root)
mvm.vm(name="Unjailed VM", vm="un", image="default", backend="firecracker", firecracker=dict(fc, jailer=False),
       state={"up": "paused", "change": "running", "down": "absent"}[phase], state_root=root)
if phase != "up":
    mvm.snapshot(name="Snapshot", snapshot="s1", vm="jl", present=not down, state_root=root)
if change:
    mvm.snapshot(name="Restore", snapshot="s1", vm="rs", state="restored", state_root=root)
if phase != "up":
    mvm.vm_template(name="Template", template="tp", image="default", backend="firecracker", network="fcbr0",
                    firecracker=fc, present=not down, state_root=root)
if down:
    for name in ("rs", "ti"):
        mvm.vm(name="%s absent" % name, vm=name, present=False, state_root=root)
if change:
    mvm.vm(name="Instance", vm="ti", image="default", backend="firecracker", network="fcbr0", snapshot="tp",
           firecracker=fc, state_root=root)
if down:
    mvm.bridge(name="Bridge absent", bridge="fcbr0", present=False, state_root=root)
