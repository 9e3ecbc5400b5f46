"""Hostile input through every option of every operation (issue #13).

Each value is either refused naming the field, by the engine, the Ansible module and the pyinfra
operation, with no command run but the read-only probes; or it is planned, and then every command of
the plan (the probes included) is executed by /bin/sh with every binary on PATH replaced by a recorder
that logs its argv. The values carry `touch CANARY` in every shell syntax: no recorded command may be
`touch`, no canary file may appear, and a value with spaces must arrive inside one argument, never split.
The option lists come from the engine's own tables, so a new option is covered without a new line here.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyinfra.api import OperationError

from ansible_collections.mvm.microvm.plugins.module_utils import (
    firecracker,
    install,
    lima,
    network,
    snapshot,
    spec,
    template,
    volume,
)
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError, SpecError
from tests.support import frontends
from tests.support.probes import HOSTS, ROOT, host, image_lines

# Commands a plan or a probe may call; each becomes the recorder. `touch` and `reboot` only ever
# run if a value was executed as shell.
TOOLS = """ip iptables nft qemu-system-x86_64 qemu-system-aarch64 python3 curl mkdir rm cp chmod chown mv ln setsid
sysctl docker container limactl tar find cpio gzip xz zstd lz4 bzip2 sha256sum cut cat grep tr readlink sleep install
apt-cache apt-get dpkg-deb mkfs.ext4 head tail awk sed id uname df dirname basename ls ps xargs timeout ldd env sudo
firecracker jailer nix rmdir fuser touch reboot wc sort stat date hostname mount umount dd fallocate ssh sw_vers
getent groupadd usermod chgrp busybox flock runuser""".split()
INJECTED = {"touch", "reboot"}
SPLIT = "mvmsplit"

_RECORDER = """#!/bin/sh
{ printf '%s' "${0##*/}"; for a in "$@"; do printf '\\037%s' "$a"; done; printf '\\036'; } >> "$MVM_REC_LOG"
"""


class Recorder:
    """A PATH of recorders; runs commands under it and returns the argv vectors they reached."""

    def __init__(self, base: Path) -> None:
        self.bin = base / "bin"
        self.work = base / "work"
        self.log = base / "argv.log"
        self.bin.mkdir(parents=True)
        self.work.mkdir()
        script = self.bin / "_recorder"
        script.write_text(_RECORDER)
        script.chmod(0o755)
        for tool in TOOLS:
            (self.bin / tool).symlink_to(script)

    def run(self, commands: list[str]) -> list[list[str]]:
        self.log.write_text("")
        env = {"PATH": str(self.bin), "MVM_REC_LOG": str(self.log), "HOME": str(self.work)}
        for command in commands:
            subprocess.run(["/bin/sh", "-c", command], env=env, cwd=self.work, capture_output=True, timeout=60)
        text = self.log.read_text()
        return [record.split("\x1f") for record in text.split("\x1e") if record]


@pytest.fixture(scope="module")
def recorder(tmp_path_factory) -> Iterator[Recorder]:
    yield Recorder(tmp_path_factory.mktemp("rec"))


def corpus(canary: Path) -> list[Any]:
    c = str(canary)
    return [
        "a;touch %s" % c, "$(touch %s)" % c, "`touch %s`" % c, "a|touch %s" % c, "a&&touch %s" % c,
        "x\ntouch %s" % c, "a\rb", "a\x00b", "a\x1b[2Jb", "a\x85b", "a\u2028b", "../../etc/passwd", "..", ".",
        "-rf", "--help", "-", "ünïcødé", "名前", "a" * 5000, "", " ", "a b", "'", '"', "\\", "*", "?", "~root",
        "$HOME", "${IFS}", "a,b", "a=b", "{0}", "{version}", "%s%n", "1_0", "0x10", "1e3", "٣", "-1", "+5", "0",
        "99999999999999999999", "inf", "nan", "/tmp/a %s/c" % SPLIT, "a %s" % SPLIT, "a\t%s" % SPLIT,
        "/tmp/a,b", "/x/$(touch %s)" % c, True, 3.5, -7,
        2 ** 70, [], {}, ["a;touch %s" % c], {"k": "$(touch %s)" % c},
    ]


# Each operation: a valid base, the facts it is planned on, and its options (from the engine's tables).
IMG = "0123456789abcdef"
UPLINK = "host\tuplink\teth0\nhost\tip_forward\t0\n"
LINKS = ('links\t[{"ifname":"eth0","flags":["UP"],"addr_info":[]},{"ifname":"mvmbr0","flags":["UP"],'
         '"linkinfo":{"info_kind":"bridge"},"addr_info":[{"family":"inet","local":"10.77.0.1","prefixlen":24}]}]\n')
RECORD = 'net\tmvmbr0\t{"gateway":"10.77.0.1","nat":true,"prefix":24,"subnet":"10.77.0.0/24","uplink":"eth0"}\n'
LIMA = ("tool\tlimactl\tpath\t/usr/local/bin/limactl\n"
        'lima\t{"name":"mvm","status":"Stopped","dir":"/home/dev/.lima/mvm","vmType":"qemu","arch":"x86_64",'
        '"cpus":4,"memory":4294967296,"disk":107374182400}\n')
FACTS = host(extra=[UPLINK, LINKS, RECORD, image_lines("default", IMG), LIMA, "volume\tdata\t67108864\n"])
# Firecracker's options are read on a host where Firecracker is available, so no value is refused only because
# the backend is missing there (a crash on `jailer_id: -1` hid behind that).
FC_FACTS = HOSTS["linux-x86_64-kvm-firecracker"].replace("host\tuid\t501", "host\tuid\t0") + image_lines("default", IMG)
OPERATIONS = {
    "vm": ({"name": "web", "image": "default", "backend": "qemu", "network": "mvmbr0", "ports": ["8080:80"],
            "boot_timeout": 1}, spec.VM_DEFAULTS),
    "image": ({"name": "img"}, spec.IMAGE_DEFAULTS),
    "bridge": ({"name": "mvmbr1", "subnet": "10.78.0.0/24", "nat": True}, network.BRIDGE_DEFAULTS),
    "tap": ({"name": "tap0", "bridge": "mvmbr0"}, network.TAP_DEFAULTS),
    "port_forward": ({"host_port": 9090, "guest": "10.77.0.9", "guest_port": 80, "network": "mvmbr0"},
                     network.FORWARD_DEFAULTS),
    "snapshot": ({"name": "s1", "state": "absent"}, snapshot.SNAPSHOT_DEFAULTS),
    "template": ({"name": "t1", "image": "default", "backend": "qemu", "boot_timeout": 1}, template.TEMPLATE_DEFAULTS),
    "firecracker_install": ({"version": "1.14.1", "sha256": "a" * 64}, install.DEFAULTS),
    "lima": ({"name": "mvm", "state": "running", "allow_restart": True}, lima.DEFAULTS),
    "volume": ({"name": "data", "size": "64M"}, volume.DEFAULTS),
}
CASES = [(kind, option) for kind, (_base, table) in OPERATIONS.items() for option in sorted(table)]
CASES += [("vm", "firecracker." + option) for option in sorted(firecracker.OPTION_DEFAULTS)]


PATH_OPTIONS = ("kernel", "initrd", "rootfs")


def _params(kind: str, option: str, value: Any) -> dict[str, Any]:
    base = dict(OPERATIONS[kind][0])
    if kind in ("vm", "template") and option in PATH_OPTIONS:  # a VM from paths, not from an image
        base.pop("image")
        base.update(kernel="/k", rootfs="/r.ext4")
    if option.startswith("firecracker."):
        base.update(backend="firecracker", network=None, ports=None)
        base["firecracker"] = {option.split(".", 1)[1]: value}
    else:
        base[option] = value
    return base


def _names(field: str, option: str) -> bool:
    return field == option or field.startswith(option + ".") or field.startswith(option + "[") \
        or option.startswith(field + ".")


def _refused_everywhere(kind: str, params: dict[str, Any], option: str) -> None:
    """The Ansible module and the pyinfra operation refuse it too, with only probes run."""
    rec = frontends.Recording(FACTS)
    result = frontends.ansible(kind, params, rec, check_mode=False)
    assert result.failed, (kind, option, params)
    assert all("probe_version" in c or "sha256sum" in c for c in rec.commands)
    if option == "state" and kind in frontends.PYINFRA_PRESENT:
        return  # pyinfra's form takes present=True/False: the string cannot be given there
    rec = frontends.Recording(FACTS)
    with pytest.raises((OperationError, ValueError, TypeError)):
        frontends.pyinfra(kind, params, rec)
    assert all("probe_version" in c or "sha256sum" in c for c in rec.commands)


def _check_executed(recorder: Recorder, commands: list[str], value: Any, canary: Path) -> None:
    vectors = recorder.run(commands)
    assert not canary.exists(), "a value ran as shell: %r" % (value,)
    assert not [v for v in vectors if v[0] in INJECTED], (value, [v for v in vectors if v[0] in INJECTED])
    # A value holding the word SPLIT must never have that word arrive as an argument (or start one) of its own.
    if isinstance(value, str) and SPLIT in value:
        split = [a for v in vectors for a in v[1:] if a.startswith(SPLIT)]
        assert not split, (value, split)


def _plan(kind: str, params: dict[str, Any], facts: str) -> tuple[list[str], list[str]]:
    """(probe commands, plan commands) from the engine."""
    rec = frontends.Recording(facts, {"/r.ext4": "cd" * 32, "/k": "ab" * 32})
    plan = frontends.engine(kind, params, rec)
    return rec.commands, plan.commands


@pytest.mark.parametrize("kind,option", CASES, ids=["%s.%s" % c for c in CASES])
def test_hostile_values_are_refused_or_arrive_intact(kind: str, option: str, recorder: Recorder, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    facts = (FC_FACTS if option.startswith("firecracker.") else FACTS).replace(ROOT, str(tmp_path / "root"))
    refused = accepted = 0
    for value in corpus(canary):
        params = _params(kind, option, value)
        try:
            probes, commands = _plan(kind, params, facts)
        except SpecError as exc:
            # An empty value means "not given": then another option may be the one missing (ports need a network).
            empty = value in ("", [], {}) or (isinstance(value, str) and not value.strip())
            assert _names(exc.field, option) or (empty and exc.field.split(".")[0].split("[")[0] in OPERATIONS[kind][1]), \
                (kind, option, value, exc.field, str(exc))
            refused += 1
            if value in ("a;touch %s" % canary, "x\ntouch %s" % canary, "a" * 5000):
                _refused_everywhere(kind, params, option)
            continue
        except MvmError as exc:
            assert not option.startswith("firecracker."), (option, value, str(exc))
            refused += 1  # refused for the host's reasons (backend, capability): nothing ran either
            continue
        accepted += 1
        _check_executed(recorder, probes + commands, value, canary)
    assert refused, (kind, option)  # every option refuses something of the corpus


# Removal, restore and cleanup paths get the same hostile values as creation.
REMOVALS = {
    "vm": {"name": "web", "state": "absent", "backend": "qemu"},
    "image": {"name": "default", "state": "absent"},
    "bridge": {"name": "mvmbr0", "state": "absent"},
    "tap": {"name": "tap0", "state": "absent"},
    "port_forward": {"host_port": 8080, "state": "absent"},
    "snapshot": {"name": "s1", "state": "restored"},
    "template": {"name": "t1", "state": "absent"},
    "firecracker_install": {"state": "absent"},
    "lima": {"name": "mvm", "state": "absent"},
    "volume": {"name": "data", "state": "absent"},
}
REMOVAL_CASES = [(kind, option) for kind, base in REMOVALS.items()
                 for option in sorted(set(base) | {"state_root"}) if option not in ("state", "backend")]


SNAPSHOT = ('snapshot\ts1\t{"format":1,"name":"s1","vm":"web","backend":"qemu","memory_mib":256,"cpus":1,'
            '"image_id":"0123456789abcdef","applied":{"backend":"qemu","arch":"x86_64","memory_mib":256,"cpus":1,'
            '"image":"default","image_id":"0123456789abcdef","kernel_args":"","network":null,"ports":[],'
            '"kernel":"/srv/mvm/images/default/vmlinuz","initrd":"/srv/mvm/images/default/initrd.img"}}\n')


@pytest.mark.parametrize("kind,option", REMOVAL_CASES, ids=["%s.%s" % c for c in REMOVAL_CASES])
def test_hostile_values_on_removal_paths(kind: str, option: str, recorder: Recorder, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    facts = (FACTS + SNAPSHOT).replace(ROOT, str(tmp_path / "root"))
    for value in corpus(canary):
        params = dict(REMOVALS[kind], **{option: value})
        try:
            probes, commands = _plan(kind, params, facts)
        except SpecError as exc:
            empty = value in ("", [], {}) or (isinstance(value, str) and not value.strip())
            assert _names(exc.field, option) or empty, (kind, option, value, exc.field, str(exc))
            continue
        except MvmError:
            continue
        _check_executed(recorder, probes + commands, value, canary)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=70), args=st.text(max_size=120), root=st.text(max_size=60))
def test_generated_values_never_reach_a_shell(name: str, args: str, root: str, recorder: Recorder,
                                              tmp_path_factory) -> None:
    base = tmp_path_factory.mktemp("gen")
    canary = base / "canary"
    for option, value in (("name", name), ("kernel_args", args + " $(touch %s) %s" % (canary, SPLIT)),
                          ("state_root", "/" + root + " " + SPLIT), ("hostname", name), ("network", name)):
        params = _params("vm", option, value)
        try:
            probes, commands = _plan("vm", params, FACTS.replace(ROOT, str(base / "root")))
        except SpecError as exc:
            empty = not value.strip()
            assert _names(exc.field, option) or exc.field in ("name", "hostname") or (empty and exc.field == "ports"), \
                (option, value, exc.field)
            continue
        except MvmError:
            continue
        _check_executed(recorder, probes + commands, value, canary)


def test_the_recorder_sees_an_injection() -> None:
    """The harness itself: an unquoted value would show up as a `touch` argv."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        rec = Recorder(Path(d))
        vectors = rec.run(["echo a; touch %s/x" % d])
        assert ["touch", "%s/x" % d] in vectors and not os.path.exists("%s/x" % d)
