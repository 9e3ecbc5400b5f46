"""Trust: validation that cannot be bypassed (issue #13, defects 2, 5, 14, 15).

Each case names a value that passed validation before and must now be refused naming the field,
through the engine, the Ansible module and the pyinfra operation, with no command run.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from pyinfra.api import OperationValueError

from ansible_collections.mvm.microvm.plugins.module_utils import install, lima, network, shell, spec, validate
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from tests.support import frontends
from tests.support.probes import host, image_lines

GOOD_VM = {"name": "web", "image": "default", "backend": "qemu"}

REFUSED_VM = [
    ({"name": "web\n"}, "name"),                      # defect 5: `$` matched before a final newline
    ({"name": "-web"}, "name"),
    ({"name": ".web"}, "name"),
    ({"name": "wéb"}, "name"),
    ({"hostname": "web\n"}, "hostname"),
    ({"memory": "512B"}, "memory"),                   # defect 14: 512B meant 512 MiB
    ({"memory": "99999999G"}, "memory"),              # no upper bound before
    ({"memory": "５１２"}, "memory"),                   # Unicode digits
    ({"cpus": "1_0"}, "cpus"),                        # int('1_0') == 10
    ({"cpus": "٣"}, "cpus"),
    ({"cpus": True}, "cpus"),
    ({"boot_timeout": "1_0"}, "boot_timeout"),
    ({"boot_timeout": "nan"}, "boot_timeout"),
    ({"boot_timeout": "inf"}, "boot_timeout"),
    ({"kernel_args": "quiet\x1binit"}, "kernel_args"),
    ({"kernel_args": "x" * 5000}, "kernel_args"),
    ({"state_root": "/srv/../etc"}, "state_root"),
    ({"state_root": "/srv/mvm\n"}, "state_root"),
    ({"network": "br$(id)"}, "network"),              # defect 1: interface names too loose
    ({"network": "br;x"}, "network"),
    ({"network": 'br"x'}, "network"),
    ({"network": "br,x"}, "network"),
    ({"network": "-br"}, "network"),
    ({"tap": "tap>x"}, "tap"),
    ({"firecracker": "jailer"}, "firecracker"),       # a non-dict gave a traceback
    ({"firecracker": ["a"]}, "firecracker"),
    ({"firecracker": {"jailer": "false-ish"}}, "firecracker.jailer"),
    ({"firecracker": {"jailer_id": "web-1\n"}}, "firecracker.jailer_id"),
    ({"firecracker": {"drives": [{"id": "d", "path": "/x", "read_only": "maybe"}]}}, "firecracker.drives[0].read_only"),
    ({"ports": ["80:80\n"]}, "ports[0]"),
    ({"ports": ["８0:80"]}, "ports"),
]


@pytest.mark.parametrize("change,field", REFUSED_VM, ids=[f"{f}-{i}" for i, (_c, f) in enumerate(REFUSED_VM)])
def test_vm_values_refused_before_any_command(change: dict[str, Any], field: str) -> None:
    params = dict(GOOD_VM, **change)
    with pytest.raises(SpecError) as caught:
        spec.vm_spec(params)
    assert caught.value.field == field

    facts = host(extra=[image_lines("default", "0123456789abcdef")])
    rec = frontends.Recording(facts)
    result = frontends.ansible("vm", params, rec, check_mode=False)
    # The engine names the field; Ansible's own type check (a dict option given a string) names it in msg.
    assert result.failed and (result.result.get("field") == field or "'%s'" % field in result.result["msg"]), \
        result.result
    assert rec.commands == []

    rec = frontends.Recording(facts)
    with pytest.raises(OperationValueError, match="^%s: " % field.replace("[", r"\[").replace("]", r"\]")):
        frontends.pyinfra("vm", params, rec)
    assert rec.commands == []


REFUSED_BRIDGE = [
    ({"subnet": "0.0.0.0/0"}, "subnet"),              # defect 15: enumerated every address for 8.5 minutes
    ({"subnet": "127.0.0.0/8"}, "subnet"),
    ({"subnet": "224.0.0.0/24"}, "subnet"),
    ({"subnet": "169.254.0.0/24"}, "subnet"),
    ({"subnet": "8.8.8.0/24"}, "subnet"),
    ({"subnet": "10.0.0.0/8"}, "subnet"),             # too large to hand out
    ({"subnet": "10.77.0.0/24\n"}, "subnet"),
    ({"name": "br$(reboot)"}, "name"),
    ({"name": "averyveryverylongname"}, "name"),
    ({"uplink": "eth0;reboot"}, "uplink"),
    ({"nat": "perhaps"}, "nat"),
    ({"gateway": "10.77.1.1"}, "gateway"),
]


@pytest.mark.parametrize("change,field", REFUSED_BRIDGE, ids=[f for _, f in REFUSED_BRIDGE])
def test_bridge_values_refused(change: dict[str, Any], field: str) -> None:
    params = dict({"name": "mvmbr0", "subnet": "10.77.0.0/24"}, **change)
    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        network.bridge_spec(params)
    assert caught.value.field == field
    assert time.monotonic() - started < 1.0  # bounded work: no enumeration of the subnet
    rec = frontends.Recording(host())
    result = frontends.ansible("bridge", params, rec, check_mode=False)
    assert result.failed and (result.result.get("field") == field or "'%s'" % field in result.result["msg"])
    assert rec.commands == []


def test_lease_search_is_bounded_by_leases_not_subnet_size() -> None:
    record = {"subnet": "10.64.0.0/16", "gateway": "10.64.0.1", "prefix": 16,
              "leases": {"vm%d" % i: {"ip": "10.64.0.%d" % (i + 2)} for i in range(50)}}
    lease = network.lease_for({"state_root": "/srv/mvm"}, "br", record, "new")
    assert lease["ip"] == "10.64.0.52" and lease["slot"] == 52


@pytest.mark.parametrize("text,expected", [
    ("512", 512), ("512M", 512), ("512MiB", 512), ("1G", 1024), ("2GiB", 2048), (" 64m ", 64)])
def test_sizes_still_accepted(text: str, expected: int) -> None:
    assert validate.size_mib("memory", text) == expected


@pytest.mark.parametrize("value,expected", [("false", False), ("no", False), ("true", True), ("on", True),
                                            (False, False), (1, True)])
def test_booleans_are_booleans(value: Any, expected: bool) -> None:
    assert validate.boolean("x", value) is expected


def test_lima_mount_writable_false_string_is_false() -> None:
    """defect 14: bool("false") made a mount writable."""
    parsed = lima.lima_spec({"name": "mvm", "mounts": [{"location": "/home/me", "writable": "false"}]})
    assert parsed.managed["mounts"] == [{"location": "/home/me", "writable": False}]
    with pytest.raises(SpecError, match="^mounts\\[0\\].writable"):
        lima.lima_spec({"name": "mvm", "mounts": [{"location": "/home/me", "writable": "sure"}]})


@pytest.mark.parametrize("value", ["web\n", "a b", "$x", "a;b", "`id`", "*", "\\", "", "-", "'", "ä"])
def test_quote_leaves_nothing_unsafe_bare(value: str) -> None:
    quoted = shell.quote(value)
    assert quoted.startswith("'") and quoted.endswith("'") or value == "-"


@pytest.mark.parametrize("value", ["web", "/var/lib/mvm", "a=b", "10.0.0.1:80"])
def test_quote_keeps_plain_values_readable(value: str) -> None:
    assert shell.quote(value) == value


INSTALL_OK = {"version": "1.14.1", "sha256": "a" * 64, "state_root": "/srv/mvm"}


@pytest.mark.parametrize("change,field", [
    ({"sha256": "a" * 64 + "\n"}, "sha256"),          # defect 2: disabled verification
    ({"sha256": "a" * 63 + "g"}, "sha256"),
    ({"version": "1.14.1\n"}, "version"),
    ({"url": "https://example.invalid/{0}"}, "url"),  # a traceback before
    ({"url": "https://example.invalid/{foo}"}, "url"),
    ({"url": "https://example.invalid/{version"}, "url"),
    ({"url": "https://x/$(id) y"}, "url"),
    ({"url": "ftp://example.invalid/x"}, "url"),
])
def test_install_refuses(change: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as caught:
        install.install_spec(dict(INSTALL_OK, **change))
    assert caught.value.field == field


def test_install_verification_quotes_every_value() -> None:
    parsed = install.install_spec(dict(INSTALL_OK, url="https://example.invalid/fc-$(id)-{version}-{arch}.tgz"))
    facts = {"state_root": "/srv/mvm", "platform": {"arch": "x86_64"}, "firecracker_install": None}
    plan = install.plan_install(parsed, facts, {})
    verify = next(s.command for s in plan.steps if "sha256" in s.description)
    assert "'https://example.invalid/fc-$(id)-1.14.1-x86_64.tgz'" in verify
    assert "$(id)" not in verify.replace("'https://example.invalid/fc-$(id)-1.14.1-x86_64.tgz'", "")


@pytest.mark.parametrize("call,value", [
    (lambda v: validate.port("p", v), 0), (lambda v: validate.port("p", v), 65536),
    (lambda v: validate.ifname("i", v), None), (lambda v: validate.ifname("i", v), True),
    (lambda v: validate.ifname("i", v), "eth0\n"), (lambda v: validate.ifname("i", v), ".."),
    (lambda v: validate.ipv4_network("n", v), None), (lambda v: validate.ipv4_network("n", v), 167772160),
    (lambda v: validate.ipv4_network("n", v), "10.0.0.0/15"), (lambda v: validate.ipv4_network("n", v), "10.0.0.0/31"),
    (lambda v: validate.ipv4_network("n", v), "10.77.0.1/24"), (lambda v: validate.ipv4_network("n", v), "240.0.0.0/24"),
    (lambda v: validate.ipv4_address("a", v), None), (lambda v: validate.ipv4_address("a", v), 167772161),
    (lambda v: validate.ipv4_address("a", v), "10.0.0.256"), (lambda v: validate.ipv4_address("a", v), " 10.0.0.1"),
])
def test_validators_refuse_at_their_edges(call, value: Any) -> None:
    with pytest.raises(SpecError) as caught:
        call(value)
    assert "expected" in str(caught.value)


@pytest.mark.parametrize("call,value,expected", [
    (lambda v: validate.port("p", v), 1, 1), (lambda v: validate.port("p", v), "65535", 65535),
    (lambda v: validate.ifname("i", v), "a", "a"), (lambda v: validate.ifname("i", v), "x" * 15, "x" * 15),
    (lambda v: str(validate.ipv4_network("n", v)), "10.64.0.0/16", "10.64.0.0/16"),
    (lambda v: str(validate.ipv4_network("n", v)), "192.168.1.0/30", "192.168.1.0/30"),
    (lambda v: str(validate.ipv4_network("n", v)), "100.64.1.0/24", "100.64.1.0/24"),
    (lambda v: str(validate.ipv4_address("a", v)), "10.0.0.1", "10.0.0.1"),
])
def test_validators_accept_at_their_edges(call, value: Any, expected: Any) -> None:
    assert call(value) == expected


def test_validator_messages_name_the_field_and_the_form() -> None:
    for call, text in ((lambda: validate.ipv4_network("subnet", "x"), "subnet: expected an IPv4 subnet such as 10.77.0.0/24"),
                       (lambda: validate.ipv4_network("subnet", "10.0.0.0/8"), "subnet: expected a prefix from /16 to /30"),
                       (lambda: validate.ipv4_network("subnet", "8.8.8.0/24"), "subnet: expected a private subnet"),
                       (lambda: validate.ipv4_address("gw", "x"), "gw: expected an IPv4 address such as 10.77.0.1"),
                       (lambda: validate.ifname("uplink", "a b"), "uplink: expected an interface name of 1 to 15")):
        with pytest.raises(SpecError) as caught:
            call()
        assert str(caught.value).startswith(text), str(caught.value)


def test_refusals_say_what_was_expected_word_for_word() -> None:
    cases = [
        (lambda: validate.boolean("nat", "perhaps"), "nat: expected true or false; got 'perhaps'"),
        (lambda: validate.items("mounts", "x"), "mounts: expected a list; got 'x'"),
        (lambda: validate.ifname("uplink", "."), "uplink: expected an interface name of 1 to 15 letters, digits, "
                                                "'_', '.' or '-' (not starting with '-'); got '.'"),
        (lambda: validate.ipv4_network("subnet", "a"), "subnet: expected an IPv4 subnet such as 10.77.0.0/24; "
                                                       "got 'a' (not dotted-quad CIDR)"),
        (lambda: validate.ipv4_network("subnet", "10.0.0.0/8"), "subnet: expected a prefix from /16 to /30 (room for a "
                                                                "gateway and VMs, bounded); got '10.0.0.0/8'"),
        (lambda: validate.ipv4_address("gw", "a.b"), "gw: expected an IPv4 address such as 10.77.0.1; got 'a.b'"),
    ]
    for call, text in cases:
        with pytest.raises(SpecError) as caught:
            call()
        assert str(caught.value) == text
