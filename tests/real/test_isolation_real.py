"""Isolated bridges for real — a tenant's network — inside network namespaces: two tenants' bridges and an open
one, a QEMU guest on each (tenant B's publishes its web server). Each guest reaches its gateway and, through NAT,
the outside; none reaches another tenant's guest, by address or through a published port, in either direction
(ping and TCP from inside the guests, through the guest agent). Ansible then pyinfra (which moves the rules to
nft), each run twice and in check mode; removal leaves the firewall as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import agent
from tests.real.conftest import BIN, ENV, PLAYBOOKS, ansible_playbook, host_facts, seed_image, wait_for
from tests.real.netns import Netns

DEPLOY = Path(__file__).parent / "deploys/isolation.py"
VMS = ("va", "vb", "vo")


@pytest.fixture(scope="module")
def lab(ns: Netns, tmp_path_factory, built_image: Path):
    root = tmp_path_factory.mktemp("iso")
    seed_image(built_image, root)
    before = ns.rules()
    rc, out, changed = ansible_playbook(PLAYBOOKS / "isolation.yml", root, ns=ns)
    assert rc == 0, out
    for name in VMS:
        wait_for(lambda name=name: "MVM-NET gateway" in (root / "vms" / name / "console.log").read_text(), 60,
                 "%s's network" % name)
    yield root, before, changed
    ansible_playbook(PLAYBOOKS / "isolation.yml", root, "-e", "mvm_state=absent", ns=ns)


def ip(root: Path, name: str) -> str:
    return host_facts(root)["vms"][name]["applied"]["network"]["ip"]


def reaches(root: Path, name: str, command: str) -> bool:
    with agent.open_session(agent.Target(name, state_root=str(root))) as session:
        rc, _out, _err = session.exec(command, timeout=20)
    return rc == 0


def ping(root: Path, name: str, address: str, count: int = 1) -> bool:
    """One ping for what must not answer; several for what must (any answer counts: a guest under TCG on a
    loaded machine may be slow to answer ARP)."""
    return reaches(root, name, "ping -c %d -W 3 %s" % (count, address))


def tcp(root: Path, name: str, url: str) -> bool:
    return reaches(root, name, "wget -q -T 3 -O /dev/null %s" % url)


def isolation_holds(root: Path, ns: Netns) -> None:
    a, b, o = (ip(root, n) for n in VMS)
    for name, gateway in (("va", "10.91.0.1"), ("vb", "10.92.0.1"), ("vo", "10.93.0.1")):
        assert ping(root, name, gateway, count=5), "%s cannot reach its gateway" % name
        assert ping(root, name, ns.client_ip, count=5), "%s cannot reach the outside through NAT" % name
    assert not ping(root, "va", b) and not tcp(root, "va", "http://%s/" % b)
    assert not ping(root, "vb", a) and not tcp(root, "vb", "http://%s/" % a)
    assert not tcp(root, "va", "http://%s:8092/" % ns.host_ip)  # B's published port, from tenant A: dropped
    assert not ping(root, "vo", a) and not ping(root, "vo", b)  # an open bridge's VM reaches no tenant either
    assert not ping(root, "va", o)
    # ... while the outside reaches B's published port, and B's own web server answers B's gateway.
    assert ns.client_exec("curl", "-s", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                          "http://%s:8092/" % ns.host_ip, check=False).stdout == "200"


def test_ansible_first_run_changes_then_nothing_and_check_mode_changes_nothing(lab, ns: Netns) -> None:
    root, _before, changed = lab
    assert changed == 2  # the bridges' task and the VMs' task (loops)
    rc, out, changed = ansible_playbook(PLAYBOOKS / "isolation.yml", root, ns=ns)
    assert (rc, changed) == (0, 0), out
    rc, out, changed = ansible_playbook(PLAYBOOKS / "isolation.yml", root, "--check", ns=ns)
    assert (rc, changed) == (0, 0), out
    rules = ns.rules()
    assert len([r for r in rules if r.startswith("mangle ") and ":iso-" in r]) == 6, rules


def test_no_tenant_reaches_another_with_iptables(lab, ns: Netns) -> None:
    isolation_holds(lab[0], ns)


def test_pyinfra_moves_the_rules_to_nft_and_isolation_holds(lab, ns: Netns) -> None:
    root = lab[0]

    def deploy(*extra: str) -> str:
        proc = ns.exec(str(BIN / "pyinfra"), "-y", "@local", str(DEPLOY), "--data", "mvm_state_root=%s" % root,
                       "--data", "fw=nft", *extra, check=False, env=ENV, cwd="/")
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        return proc.stdout + proc.stderr

    out = deploy()
    assert out.count("[@local] Success") == 3, out  # the three bridges' rules move; the VMs stay
    assert deploy().count("[@local] Success") == 0
    assert deploy("--dry").count("[@local] Success") == 0
    rules = ns.rules()
    assert not [r for r in rules if r.startswith("mangle ")], rules
    assert len([r for r in rules if r.startswith("nft isolate ")]) == 6, rules
    isolation_holds(root, ns)


def test_removal_leaves_the_firewall_as_it_was(lab, ns: Netns) -> None:
    root, before, _ = lab
    rc, out, _ = ansible_playbook(PLAYBOOKS / "isolation.yml", root, "-e", "mvm_state=absent", ns=ns)
    assert rc == 0, out
    assert ns.rules() == before
    assert not host_facts(root)["vms"] and not host_facts(root)["networks"]
