"""The engine on what real tools printed (tests/fixtures/recorded, made by tests/support/record_outputs.py in
namespaces: real iptables nf_tables and legacy, nft, ip, a QEMU guest under TCG and its QMP, dockerd).

- facts: every recorded probe output parsed, and the facts module's report, pinned in golden files;
- converged: the state the engine made, probed for real, plans nothing when asked again (no fabricated input);
- changes: each lifecycle change on that real state plans the exact commands in a golden file;
- QMP: the engine's QMP client against a socket that answers with QEMU's recorded replies;
- nft: the real tests' rule listing sees a duplicated or leftover nft rule.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
from typing import Any

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import ops, probe, qmp
from tests.real import netns
from tests.support import frontends, golden
from tests.support.golden import recorded

PROBES = ["probe-qemu-running.txt", "probe-qemu-paused.txt", "probe-qemu-stopped.txt", "probe-after-absent.txt",
          "probe-iptables-legacy.txt", "probe-nft.txt", "probe-docker-running.txt", "probe-docker-paused.txt",
          "probe-docker-stopped.txt", "probe-nft-last-bridge.txt", "probe-nft-after-absent.txt",
          "probe-forwards-only.txt", "probe-last-forward.txt"]
WEB = {"name": "web", "image": "default", "backend": "qemu", "network": "mvmbr0", "ports": ["8080:80"],
       "kernel_args": "mvm.httpd=80"}
BOX = {"name": "box", "image": "default", "backend": "docker"}
BRIDGES = [{"name": "mvmbr0", "subnet": "10.77.0.0/24", "nat": True}, {"name": "other", "subnet": "10.78.0.0/24",
                                                                        "nat": True}]
FORWARD = {"host_port": 9090, "guest": "10.77.0.2", "guest_port": 80, "network": "mvmbr0"}
UDP = {"host_port": 5353, "guest": "10.77.0.2", "guest_port": 53, "proto": "udp", "network": "mvmbr0"}

# What was asked of the engine before each recording, asked again: nothing to do.
CONVERGED = [
    ("probe-qemu-running.txt", "vm", WEB),
    ("probe-qemu-paused.txt", "vm", dict(WEB, state="paused")),
    ("probe-qemu-stopped.txt", "vm", dict(WEB, state="stopped")),
    ("probe-after-absent.txt", "vm", {"name": "web", "state": "absent"}),
    ("probe-after-absent.txt", "bridge", {"name": "mvmbr0", "state": "absent"}),
    ("probe-after-absent.txt", "port_forward", dict(FORWARD, state="absent")),
    ("probe-nft-last-bridge.txt", "bridge", {"name": "other", "state": "absent"}),
    ("probe-nft-after-absent.txt", "bridge", {"name": "mvmbr0", "state": "absent"}),
    ("probe-docker-running.txt", "vm", BOX),
    ("probe-docker-paused.txt", "vm", dict(BOX, state="paused")),
    ("probe-docker-stopped.txt", "vm", dict(BOX, state="stopped")),
] + [(name, kind, dict(params, firewall=fw))
     for name, fw in (("probe-qemu-running.txt", "iptables"), ("probe-iptables-legacy.txt", "iptables"),
                      ("probe-nft.txt", "nft"))
     for kind, params in [("bridge", BRIDGES[0]), ("bridge", BRIDGES[1]), ("port_forward", FORWARD),
                          ("port_forward", UDP)]]

# Changes on the recorded state, each pinned to a golden file.
CHANGES = [
    ("recorded-qemu-pause", "probe-qemu-running.txt", "vm", dict(WEB, state="paused")),
    ("recorded-qemu-resume", "probe-qemu-paused.txt", "vm", WEB),
    ("recorded-qemu-stop", "probe-qemu-running.txt", "vm", dict(WEB, state="stopped")),
    ("recorded-qemu-start", "probe-qemu-stopped.txt", "vm", WEB),
    ("recorded-qemu-memory", "probe-qemu-running.txt", "vm", dict(WEB, memory=384, recreate=True)),
    ("recorded-qemu-ports", "probe-qemu-running.txt", "vm", dict(WEB, ports=["8081:80"])),
    ("recorded-qemu-absent", "probe-qemu-running.txt", "vm", {"name": "web", "state": "absent"}),
    ("recorded-qemu-snapshot", "probe-qemu-running.txt", "snapshot", {"name": "s1", "vm": "web"}),
    ("recorded-bridge-absent-iptables", "probe-iptables-legacy.txt", "bridge", {"name": "other", "state": "absent"}),
    ("recorded-bridge-nat-off-iptables", "probe-iptables-legacy.txt", "bridge", dict(BRIDGES[1], nat=False)),
    ("recorded-forward-absent-iptables", "probe-iptables-legacy.txt", "port_forward", dict(FORWARD, state="absent")),
    ("recorded-bridge-absent-nft", "probe-nft.txt", "bridge", {"name": "other", "state": "absent"}),
    ("recorded-forward-absent-nft", "probe-nft.txt", "port_forward", dict(FORWARD, state="absent")),
    ("recorded-bridge-last-absent-nft", "probe-nft-last-bridge.txt", "bridge", {"name": "mvmbr0", "state": "absent"}),
    ("recorded-bridge-one-of-two-absent", "probe-qemu-running.txt", "bridge", {"name": "other", "state": "absent"}),
    ("recorded-forward-one-of-two", "probe-forwards-only.txt", "port_forward",
     dict(FORWARD, state="absent")),
    ("recorded-forward-last-udp", "probe-last-forward.txt", "port_forward", {"host_port": 5353, "proto": "udp",
                                                                            "state": "absent"}),
    ("recorded-bridge-duplicate-rule", "probe-iptables-legacy.txt+dup", "bridge", dict(BRIDGES[0], firewall="iptables")),
    ("recorded-forward-moved-nft", "probe-nft.txt", "port_forward", dict(FORWARD, guest="10.77.0.3", firewall="nft")),
    ("recorded-bridge-nft-to-iptables", "probe-nft.txt", "bridge", dict(BRIDGES[0], firewall="iptables")),
    ("recorded-docker-pause", "probe-docker-running.txt", "vm", dict(BOX, state="paused")),
    ("recorded-docker-resume", "probe-docker-paused.txt", "vm", BOX),
    ("recorded-docker-stop", "probe-docker-running.txt", "vm", dict(BOX, state="stopped")),
    ("recorded-docker-start", "probe-docker-stopped.txt", "vm", BOX),
    ("recorded-docker-absent", "probe-docker-running.txt", "vm", {"name": "box", "state": "absent"}),
    ("recorded-docker-memory", "probe-docker-running.txt", "vm", dict(BOX, memory=384, recreate=True)),
]

GOLDEN_NAMES = ({"facts-" + p.replace(".txt", ".json") for p in PROBES}
                | {"report-" + p.replace(".txt", ".json") for p in PROBES} | {c[0] + ".txt" for c in CHANGES})


def test_every_recorded_file_is_used() -> None:
    used = set(PROBES) | {"qmp-web.jsonl", "nft-j-ruleset.json", "iptables-nft-S.txt", "iptables-legacy-S.txt",
                          "ip-j-d-addr.txt"}
    assert sorted(p.name for p in golden.RECORDED.iterdir()) == sorted(used)


@pytest.mark.parametrize("name", PROBES)
def test_facts_from_a_recorded_probe(name: str) -> None:
    facts = probe.parse_host(recorded(name))
    assert facts["warnings"] == []
    golden.check("facts-" + name.replace(".txt", ".json"), json.dumps(facts, indent=1, sort_keys=True) + "\n")
    report = ops.host_report(facts)
    golden.check("report-" + name.replace(".txt", ".json"), json.dumps(report, indent=1, sort_keys=True) + "\n")


def test_recorded_states_read_as_what_was_made() -> None:
    """Literal expectations for the facts a reader checks first."""
    def state(name: str, probe_file: str) -> str:
        return probe.parse_host(recorded(probe_file))["vms"][name]["state"]

    assert [state("web", "probe-qemu-%s.txt" % s) for s in ("running", "paused", "stopped")] == \
        ["running", "paused", "stopped"]
    assert [state("box", "probe-docker-%s.txt" % s) for s in ("running", "paused", "stopped")] == \
        ["running", "paused", "stopped"]
    nets = probe.parse_host(recorded("probe-qemu-running.txt"))["networks"]
    assert sorted(nets) == ["mvmbr0", "other"]
    assert nets["mvmbr0"]["leases"]["web"]["ip"] == "10.77.0.2"
    gone = probe.parse_host(recorded("probe-after-absent.txt"))
    assert (gone["vms"], gone["networks"], gone["network"]["firewall"]["rules"]) == ({}, {}, [])


@pytest.mark.parametrize("probe_file,kind,params", CONVERGED,
                         ids=["%s-%s-%d" % (c[0][6:-4], c[1], i) for i, c in enumerate(CONVERGED)])
def test_what_the_engine_made_is_converged(probe_file: str, kind: str, params: dict[str, Any]) -> None:
    assert frontends.three_ways(kind, params, recorded(probe_file)) == []


def with_duplicate(probe_file: str) -> str:
    """`NAME+dup`: the recorded output with mvmbr0's MASQUERADE rule printed twice, as iptables shows a rule that
    was added twice (by hand, or by two runs before mvm took locks)."""
    if not probe_file.endswith("+dup"):
        return recorded(probe_file)
    lines = recorded(probe_file[:-4]).splitlines(keepends=True)
    [nat] = [line for line in lines if ":br:mvmbr0:nat:" in line]
    return "".join(lines[:lines.index(nat) + 1] + [nat] + lines[lines.index(nat) + 1:])


@pytest.mark.parametrize("name,probe_file,kind,params", CHANGES, ids=[c[0] for c in CHANGES])
def test_changes_on_recorded_state(name: str, probe_file: str, kind: str, params: dict[str, Any]) -> None:
    facts = with_duplicate(probe_file)
    commands = frontends.three_ways(kind, params, facts)
    assert commands
    plan = frontends.engine(kind, params, frontends.Recording(facts))
    golden.check(name + ".txt", golden.plan_text(plan))


def iptables_rows(name: str) -> list[tuple[str, str]]:
    """(table, line) in the order a recorded `iptables -S` file holds them (a `## -t TABLE` line heads each)."""
    rows, table = [], ""
    for line in recorded(name).splitlines():
        if line.startswith("## -t "):
            table = line[6:]
        else:
            rows.append((table, line))
    return rows


def test_recorded_iptables_lines_are_what_the_probe_reported() -> None:
    """The probe passes on iptables' own lines, only those of mvm, in the order iptables printed them."""
    for raw, probed in (("iptables-legacy-S.txt", "probe-iptables-legacy.txt"),
                        ("iptables-nft-S.txt", "probe-qemu-running.txt")):
        expected = ["ipt\t%s\t%s" % row for row in iptables_rows(raw) if "mvm:" in row[1]]
        assert [line for line in recorded(probed).splitlines() if line.startswith("ipt\t")] == expected


class QmpReplay:
    """A unix socket that answers like the recorded QEMU: the greeting, then each command's recorded lines."""

    def __init__(self, path: str) -> None:
        lines = [json.loads(line) for line in recorded("qmp-web.jsonl").splitlines()]
        self.greeting = json.dumps(lines[0]["recv"]) + "\n"
        self.replies: dict[str, list[list[str]]] = {}
        for i, line in enumerate(lines):
            if "send" in line:
                answer = []
                for later in lines[i + 1:]:
                    if "send" in later:
                        break
                    answer.append(json.dumps(later["recv"]) + "\n")
                self.replies.setdefault(line["send"]["execute"], []).append(answer)
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        self.server.listen(4)
        self.received: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn, conn.makefile("rw") as f:
                f.write(self.greeting)
                f.flush()
                paused = False
                for line in f:
                    command = json.loads(line)["execute"]
                    self.received.append(command)
                    paused = {"stop": True, "cont": False}.get(command, paused)
                    answers = self.replies[command]
                    if command == "query-status":  # the recorded reply for the state the guest is in
                        answers = [a for a in answers if ('"paused"' in a[0]) is paused]
                    f.write("".join(answers[0]))
                    f.flush()


def test_qmp_client_against_recorded_replies() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "qmp.sock")
        replay = QmpReplay(sock)

        def sh(command: str) -> str:
            return subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, check=True).stdout

        assert sh(qmp.status_command("web=%s" % sock)) == "vm\tweb\tstatus\trunning\n"
        assert sh(qmp.command(sock, ["stop", "query-status"])) == '{}\n{"status": "paused", "singlestep": false, ' \
            '"running": false}\n'
        block = json.loads(sh(qmp.command(sock, ["query-block"])))
        assert [b["device"] for b in block] == ["root"]
        assert replay.received == ["qmp_capabilities", "query-status", "qmp_capabilities", "stop", "query-status",
                                   "qmp_capabilities", "query-block"]
        # The probe's status mode stays silent for a VM whose socket does not answer.
        assert sh(qmp.status_command("gone=%s" % os.path.join(tmp, "none.sock"))) == ""


def test_rule_listing_sees_a_duplicated_or_leftover_nft_rule() -> None:
    """The real network tests compare netns.rules() before and after; a duplicate or a leftover must show."""
    ruleset = json.loads(recorded("nft-j-ruleset.json"))
    listed = netns.nft_rules(ruleset)
    assert len(listed) == 12 and len(set(listed)) == 12
    items = ruleset["nftables"]
    first_rule = [i for i in items if "rule" in i][0]
    duplicated = netns.nft_rules({"nftables": items + [first_rule]})
    assert len(duplicated) == 13 and duplicated != listed
    assert netns.nft_rules({"nftables": [i for i in items if "rule" not in i]}) == []


def test_ip_links_recorded_with_bridge_and_tap() -> None:
    network = probe.parse_host("links\t%s\n" % recorded("ip-j-d-addr.txt").strip())["network"]
    assert [(b["name"], b["addresses"], b["members"]) for b in network["bridges"]] == [
        ("mvmbr0", ["10.77.0.1/24"], ["mvmce88162364"]), ("other", ["10.78.0.1/24"], [])]
    assert [(t["name"], t["master"], t["up"]) for t in network["taps"]] == [("mvmce88162364", "mvmbr0", True)]
    assert network["interfaces"] == ["eth0", "lo", "mvmbr0", "mvmce88162364", "other", "uplink0"]


def test_the_older_tests_recorded_lines_are_real() -> None:
    """tests/unit/test_network_plans.RECORDED_IPTABLES (typed in by hand from a real run) is line for line what
    iptables printed in the recorded run, table by table."""
    from tests.unit.test_network_plans import RECORDED_IPTABLES

    printed = set(iptables_rows("iptables-nft-S.txt"))
    assert [row for rows in RECORDED_IPTABLES.values() for row in rows if row not in printed] == []
