"""A pool spread over three VM hosts for real: three network namespaces, each with its own sshd and state root,
driven over SSH by ansible-playbook (mvm.microvm.facts + mvm.microvm.pool) and by pyinfra (operation pool). The
pool grows from 6 instances to 9 and shrinks to 3; each step's second run changes nothing; the removed instances
leave nothing behind. The VMs are QEMU guests (TCG) of mvm's busybox image, each started inside its host's
namespace."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.conftest import need_root
from tests.real.conftest import BIN, ENV, PLAYBOOKS, host_facts, kill_under, seed_image, wait_for
from tests.support.ssh_lab import SshLab, write_inventories

HERE = Path(__file__).parent
HOSTS = ("kvm1", "kvm2", "kvm3")
FLEET = """tenants:
  - name: acme
    subnet_pool: 10.80.0.0/16
pools:
  - name: web
    tenant: acme
    backend: qemu
    image: {name: default, digest: "sha256:%s"}
    instances: %%d
    memory: 128
""" % ("0" * 64)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, built_image: Path) -> Iterator[dict]:
    need_root()
    work = tmp_path_factory.mktemp("fleet")
    labs = {}
    try:
        for i, name in enumerate(HOSTS):
            (work / name).mkdir()
            labs[name] = SshLab.start(work / name, octet=40 + i)
            seed_image(built_image, work / name / "st")
        yield {"work": work, "labs": labs}
    finally:
        for name, one in labs.items():
            kill_under(work / name / "st")
            one.stop()
        shutil.rmtree(work, ignore_errors=True)


def _files(lab: dict, instances: int, fleet: str = FLEET) -> tuple[Path, Path, Path]:
    work = lab["work"]
    (work / "fleet.yml").write_text(fleet % instances)
    write_inventories(work, lab["labs"])
    return work / "fleet.yml", work / "hosts.yml", work / "inventory.py"


def ansible(lab: dict, instances: int, *extra: str, fleet_text: str = FLEET, pool: str = "web", rc: int = 0) -> int:
    fleet, hosts, _ = _files(lab, instances, fleet_text)
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(hosts), str(PLAYBOOKS / "fleet_pool.yml"),
                           "-e", "fleet_file=%s" % fleet, "-e", "pool_name=%s" % pool, *extra], capture_output=True,
                          text=True, env=ENV)
    out = proc.stdout + proc.stderr
    assert proc.returncode == rc, out[-5000:]
    lab["last"] = out
    return sum(int(n) for n in re.findall(r"changed=(\d+)", out))


def pyinfra(lab: dict, instances: int, *extra: str, fleet_text: str = FLEET, pool: str = "web", rc: int = 0) -> str:
    fleet, _, inventory = _files(lab, instances, fleet_text)
    proc = subprocess.run([str(BIN / "pyinfra"), "-y", str(inventory), str(HERE / "deploys/fleet_pool.py"),
                           "--data", "fleet_file=%s" % fleet, "--data", "pool_name=%s" % pool, *extra],
                          capture_output=True, text=True, env=ENV)
    out = proc.stdout + proc.stderr
    assert proc.returncode == rc, out[-5000:]
    return out


def placement(lab: dict) -> dict[str, list[str]]:
    """What runs where, from each host's own facts (read here: the state roots are on this machine)."""
    found = {}
    for name in HOSTS:
        vms = {n: v for n, v in host_facts(lab["work"] / name / "st")["vms"].items() if n.startswith("web-")}
        assert all(v["state"] == "running" and v["ready"] for v in vms.values()), vms
        found[name] = sorted(vms, key=lambda n: int(n.rsplit("-", 1)[1]))
    return found


def _leftovers(lab: dict, names: list[str]) -> list[str]:
    """Files or processes of removed instances."""
    left = []
    for host in HOSTS:
        root = lab["work"] / host / "st"
        left += [str(p) for p in (root / "vms").glob("*") if p.name not in names] if (root / "vms").exists() else []
        left += [line for line in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
                 if str(root / "vms") in line and not any("/vms/%s/" % n in line for n in names)]
    return left


SPREAD = {6: {"kvm1": ["web-0", "web-3"], "kvm2": ["web-1", "web-4"], "kvm3": ["web-2", "web-5"]},
          9: {"kvm1": ["web-0", "web-3", "web-6"], "kvm2": ["web-1", "web-4", "web-7"],
              "kvm3": ["web-2", "web-5", "web-8"]},
          3: {"kvm1": ["web-0"], "kvm2": ["web-1"], "kvm3": ["web-2"]}}


def revisions(lab: dict) -> list[tuple[int, int, int | None]]:
    """(number, instances, rolled back to) of the pool's revision log, the same on every host."""
    logs = []
    for host in HOSTS:
        log = lab["work"] / host / "st/fleet/web.revisions"
        assert log.stat().st_mode & 0o777 == 0o600
        logs.append([(r["revision"], r["spec"]["instances"], r["rolled_back_to"])
                     for r in map(json.loads, log.read_text().splitlines())])
    assert logs[0] == logs[1] == logs[2], logs
    return logs[0]


def test_a_pool_grows_shrinks_and_rolls_back_over_three_hosts_through_ansible_then_pyinfra(lab: dict) -> None:
    assert ansible(lab, 6, "--check") > 0  # check mode plans the six and changes nothing
    assert all(host_facts(lab["work"] / h / "st")["vms"] == {} for h in HOSTS)
    for instances in (6, 9, 3):
        assert ansible(lab, instances) > 0
        assert ansible(lab, instances) == 0
        got = placement(lab)
        assert got == SPREAD[instances]  # spread evenly, in name order; the ones that ran stayed where they were
        assert _leftovers(lab, [n for v in got.values() for n in v]) == []
    assert revisions(lab) == [(1, 6, None), (2, 9, None), (3, 3, None)]
    # Back to revision 1's spec (6 instances) while the fleet file says 3: a new revision, then nothing to do.
    assert ansible(lab, 3, "-e", "pool_revision=1") > 0
    assert ansible(lab, 3, "-e", "pool_revision=1") == 0
    assert placement(lab) == SPREAD[6] and revisions(lab)[-1] == (4, 6, 1)
    for instances in (9, 3, 6):
        out = pyinfra(lab, instances)
        assert "] Success" in out, out[-3000:]
        second = pyinfra(lab, instances)
        assert "] Success" not in second and all("[%s] No changes" % h in second for h in HOSTS), second[-3000:]
        got = placement(lab)
        assert got == SPREAD[instances]  # the same placement as Ansible's, host by host
        assert _leftovers(lab, [n for v in got.values() for n in v]) == []
    assert "] Success" in pyinfra(lab, 6, "--data", "pool_revision=3")
    assert "] Success" not in pyinfra(lab, 6, "--data", "pool_revision=3")
    assert placement(lab) == SPREAD[3]
    assert revisions(lab)[4:] == [(5, 9, None), (6, 3, None), (7, 6, None), (8, 3, 3)]


# Two tenants on the same hosts: acme's pool web (above) and globex's pool jobs; globex may run 2 VMs in all.
TWO_TENANTS = FLEET.replace("instances: %d", "instances: 3").replace("pools:", """  - name: globex
    subnet_pool: 10.81.0.0/16
    quotas: {total: {vms: 2}}
pools:""") + """  - name: jobs
    tenant: globex
    backend: qemu
    image: {name: default, digest: "sha256:%s"}
    instances: %%d
    memory: 128
""" % ("1" * 64)


def _snapshot(lab: dict) -> list:
    return [(h, sorted(f["vms"]), sorted(f["networks"])) for h in HOSTS
            for f in [host_facts(lab["work"] / h / "st")]]


def _from(lab: dict, host: str, vm: str, command: str) -> bool:
    from ansible_collections.mvm.microvm.plugins.module_utils import agent

    with agent.open_session(agent.Target(vm, state_root=str(lab["work"] / host / "st"))) as session:
        return session.exec(command, timeout=20)[0] == 0


def test_two_tenants_are_kept_apart_and_a_quota_is_refused_before_any_host_changes(lab: dict) -> None:
    ansible(lab, 3)  # acme's web: web-0 on kvm1, web-1 on kvm2, web-2 on kvm3
    before = _snapshot(lab)
    for run in (ansible, pyinfra):
        run(lab, 3, fleet_text=TWO_TENANTS, pool="jobs", rc=2 if run is ansible else 1)
        assert _snapshot(lab) == before, run  # refused on the controller: no host changed
    assert "tenant globex's pools ask for 3 vms in all, over its quota of 2" in lab["last"], lab["last"][-3000:]
    assert ansible(lab, 1, fleet_text=TWO_TENANTS, pool="jobs") > 0  # jobs-0 on kvm1, beside web-0
    facts = host_facts(lab["work"] / "kvm1" / "st")
    web, jobs = (facts["vms"][n]["applied"]["network"] for n in ("web-0", "jobs-0"))
    assert (web["name"], jobs["name"]) == ("mvt-acme", "mvt-globex")
    assert facts["networks"]["mvt-acme"]["isolated"] and facts["networks"]["mvt-globex"]["isolated"]
    for vm in ("web-0", "jobs-0"):
        console = lab["work"] / "kvm1" / "st" / "vms" / vm / "console.log"
        wait_for(lambda console=console: "MVM-NET gateway" in console.read_text(), 60, "%s's network" % vm)
    # Each reaches its own gateway (any of five pings answered: TCG guests on a loaded machine answer ARP late) -
    # web-0 too, which went through the scaling test's TAPs coming and going (its bridge's MAC is mvm's own).
    for vm, net in (("web-0", web), ("jobs-0", jobs)):
        assert _from(lab, "kvm1", vm, "ping -c 5 -W 3 %s" % net["gateway"]), vm
    assert not _from(lab, "kvm1", "web-0", "ping -c 1 -W 2 %s" % jobs["ip"])
    assert not _from(lab, "kvm1", "jobs-0", "ping -c 1 -W 2 %s" % web["ip"])
    assert not _from(lab, "kvm1", "web-0", "wget -q -T 3 -O /dev/null http://%s/" % jobs["ip"])
    assert ansible(lab, 0, fleet_text=TWO_TENANTS, pool="jobs") > 0
    assert "jobs-0" not in host_facts(lab["work"] / "kvm1" / "st")["vms"]


# The rolling update: 6 instances, at most 2 down at once; the new image is `v2` (on each host the same artifact
# as `default` under another name, with another pinned digest: to the VMs, another image - their disks are replaced).
ROLL = FLEET.replace("memory: 128\n", "memory: 128\n    update: {max_unavailable: 2}\n")
V2 = ROLL.replace('{name: default, digest: "sha256:%s"}' % ("0" * 64), '{name: v2, digest: "sha256:%s"}' % ("2" * 64))
WEB = ["web-%d" % i for i in range(6)]


class Watch(threading.Thread):
    """Polls every host's facts while a run goes on: the most instances down at once, and each instance's spec."""

    def __init__(self, lab: dict, on_down: Callable[[set[str]], None] | None = None) -> None:
        super().__init__(daemon=True)
        self.lab, self.on_down, self.most, self.polls, self.done = lab, on_down, 0, 0, threading.Event()

    def look(self) -> dict[str, tuple[bool, str | None]]:
        """instance -> (running and ready, its mvm.spec label)."""
        seen = {}
        for host in HOSTS:
            for name, vm in host_facts(self.lab["work"] / host / "st")["vms"].items():
                if name in WEB:
                    seen[name] = (vm["state"] == "running" and bool(vm["ready"]),
                                  (vm["applied"].get("labels") or {}).get("mvm.spec"))
        return seen

    def run(self) -> None:
        while not self.done.is_set():
            seen = self.look()
            down = {n for n in WEB if not seen.get(n, (False, None))[0]}
            self.most, self.polls = max(self.most, len(down)), self.polls + 1
            if down and self.on_down is not None:
                self.on_down(down)
                self.on_down = None
            time.sleep(0.2)

    def stop(self) -> "Watch":
        self.done.set()
        self.join(30)
        return self


def _spec(text: str) -> str:
    from ansible_collections.mvm.microvm.plugins.plugin_utils import fleet

    return next(p for p in fleet.parse(text % 6).pools if p.name == "web").spec_id()


def test_a_rolling_update_keeps_all_but_two_serving_stops_when_a_host_is_lost_and_a_rerun_completes(lab: dict) -> None:
    for host in HOSTS:
        images = lab["work"] / host / "st" / "images"
        (images / "v2").symlink_to(os.readlink(images / "default"))
    assert ansible(lab, 6, fleet_text=ROLL) > 0  # web-3..5 join web-0..2 (whose spec is ROLL's: update is not in it)
    watch = Watch(lab)
    assert watch.look() == {n: (True, _spec(ROLL)) for n in WEB}

    # To v2, kvm3 cut off while the first batch (web-0 on kvm1, web-1 on kvm2) is under way: the run stops.
    kvm3 = lab["labs"]["kvm3"]
    watch = Watch(lab, on_down=lambda down: kvm3.cut())
    watch.start()
    try:
        fleet, hosts, _ = _files(lab, 6, V2)
        proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(hosts), str(PLAYBOOKS / "fleet_pool.yml"),
                               "-e", "fleet_file=%s" % fleet, "-e", "pool_name=web"], capture_output=True, text=True,
                              env=ENV, timeout=600)
    finally:
        watch.stop()
        kvm3.cut(False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "UNREACHABLE" in out, out[-4000:]
    assert watch.polls > 3 and 1 <= watch.most <= 2, (watch.most, watch.polls)
    seen = watch.look()
    assert seen["web-0"] == seen["web-1"] == (True, _spec(V2)), seen  # the first batch went through
    for name, host in (("web-4", "kvm2"), ("web-5", "kvm3")):  # the last batch never began: old, and answering
        assert seen[name] == (True, _spec(ROLL)), seen
        assert _from(lab, host, name, "true"), name

    # kvm3 back: a rerun goes on from what is still out of date, two at a time; then nothing to do.
    watch = Watch(lab)
    watch.start()
    try:
        assert ansible(lab, 6, fleet_text=V2) > 0
    finally:
        watch.stop()
    assert watch.most <= 2 and watch.look() == {n: (True, _spec(V2)) for n in WEB}
    assert ansible(lab, 6, fleet_text=V2) == 0
    assert revisions(lab)[-1][1:] == (6, None)

    # pyinfra back to the first image, the same way: batches of two, then no change.
    watch = Watch(lab)
    watch.start()
    try:
        out = pyinfra(lab, 6, fleet_text=ROLL)
    finally:
        watch.stop()
    assert "] Success" in out and 1 <= watch.most <= 2, (watch.most, out[-3000:])
    assert watch.look() == {n: (True, _spec(ROLL)) for n in WEB}, out[-5000:]
    assert "] Success" not in pyinfra(lab, 6, fleet_text=ROLL)
    assert placement(lab) == SPREAD[6]
