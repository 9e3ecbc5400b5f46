"""Edges the mutation sample found unpinned, each with a literal expectation: characters the validators refuse
(DEL, C1 controls, line separators), bounds of lists and sizes, probe records of odd width, every status
word QEMU and Firecracker use for a paused guest, and the shapes Apple's image list takes."""

from __future__ import annotations

import json

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import apple_container, probe, validate
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from tests.support.probes import LINUX_PVM_QEMU


@pytest.mark.parametrize("text,found", [("a\x7fb", "\x7f"), ("a\x80b", "\x80"), ("a\x9fb", "\x9f"),
                                        ("a\u2028b", "\u2028"), ("a\u2029b", "\u2029"), ("\x1f", "\x1f")])
def test_control_characters_refused(text: str, found: str) -> None:
    with pytest.raises(SpecError) as err:
        validate.control_free("hostname", text)
    assert str(err.value) == "hostname: control characters are not allowed (found %r); got %r" % (found, text)


@pytest.mark.parametrize("text", ["a~b", "a\xa0b", "\u00e9", " "])
def test_printable_characters_pass(text: str) -> None:
    validate.control_free("hostname", text)


def test_lists_are_bounded() -> None:
    validate.control_free("ports", ["8080:80"] * 1024)
    with pytest.raises(SpecError) as err:
        validate.control_free("ports", ["8080:80"] * 1025)
    assert str(err.value) == "ports: expected at most 1024 items; got 1025"


def test_sizes_in_kib_must_make_whole_mib() -> None:
    assert validate.size_mib("memory", "2048K") == 2
    with pytest.raises(SpecError) as err:
        validate.size_mib("memory", "100K")
    assert str(err.value) == "memory: expected a whole number of MiB; got '100K'"


def test_paths_are_normalised() -> None:
    assert validate.abs_path("kernel", "//boot//vmlinuz/") == "/boot/vmlinuz"
    assert validate.abs_path("kernel", "/") == "/"
    assert validate.abs_path("kernel", "///") == "/"
    assert validate.abs_path("kernel", "/X") == "/X" and validate.abs_path("kernel", "/XX/") == "/XX"


@pytest.mark.parametrize("status,state", [("running", "running"), ("paused", "paused"), ("postmigrate", "paused"),
                                          ("suspended", "paused"), ("Paused", "paused"), ("Running", "running")])
def test_every_paused_status_word(status: str, state: str) -> None:
    text = LINUX_PVM_QEMU + "vm\tweb\tdir\t/srv/mvm/vms/web\nvm\tweb\tpid\t42\nvm\tweb\tstatus\t%s\n" % status
    assert probe.parse_host(text)["vms"]["web"]["state"] == state


def test_records_cut_short_or_with_more_fields() -> None:
    """A transport may strip trailing empty fields: a short record reads as empty ones (a lease without its JSON
    is no lease); fields past the record's width are ignored."""
    net = 'net\tbr0\t{"subnet":"10.7.0.0/24"}\n'
    assert probe.parse_host(LINUX_PVM_QEMU + "lease\tbr0\tweb\n" + net)["networks"]["br0"]["leases"] == {}
    extra = LINUX_PVM_QEMU + 'lease\tbr0\tweb\t{"ip":"10.7.0.2"}\textra\n' + net
    assert probe.parse_host(extra)["networks"]["br0"]["leases"] == {"web": {"ip": "10.7.0.2"}}
    assert probe.parse_host(LINUX_PVM_QEMU + "bogus\tline\n")["warnings"] == ["unexpected probe line ignored: 'bogus\\tline'"]


def test_unreadable_ip_output_is_a_warning() -> None:
    facts = probe.parse_host(LINUX_PVM_QEMU + "links\t[not json\n")
    assert facts["network"]["bridges"] == [] and facts["warnings"] == [
        "ip -j addr output is not valid JSON; treated as unknown"]


@pytest.mark.parametrize("text,refs", [
    (json.dumps([{"reference": "a:1"}, {"configuration": {"reference": "b:2"}}, {"name": "c:3"}, {"other": 1}]),
     ["a:1", "b:2", "c:3"]),
    (json.dumps({"reference": "a:1"}), []), ("not json", []), ("", []),
])
def test_apple_image_list_shapes(text: str, refs: list) -> None:
    assert apple_container.parse_images(text) == refs


def test_the_rest_of_a_vm_record() -> None:
    """Modes past an unreadable entry, a link without flags, a lease that is not JSON, a VM without its spec."""
    text = (LINUX_PVM_QEMU.replace("host\tuid\t0\n", "") + "vm\tweb\tdir\t/srv/mvm/vms/web\n"
            + "vm\tweb\tmodes\tbroken=xyz disk.ext4=600 \n"
            + 'links\t[{"ifname":"br0","linkinfo":{"info_kind":"bridge"},"addr_info":[]}]\n'
            + 'net\tbr0\t{"subnet":"10.7.0.0/24"}\nlease\tbr0\tweb\t{not json\n')
    facts = probe.parse_host(text)
    assert facts["vms"]["web"]["modes"] == {"disk.ext4": 0o600}
    assert facts["vms"]["web"]["backend"] == "unknown"
    assert facts["network"]["bridges"] == [{"name": "br0", "up": False, "addresses": [], "mac": None,
                                            "members": []}]
    assert facts["networks"]["br0"]["leases"] == {}
    assert facts["warnings"] == ["lease br0/web is not valid JSON; treated as unknown"]
    assert facts["user"]["uid"] == -1


def test_nix_and_its_flakes() -> None:
    nix = "tool\tnix\tpath\t/usr/bin/nix\ntool\tnix\tversion\tnix (Nix) 2.24.9\n"
    assert probe.parse_host(LINUX_PVM_QEMU + nix + "host\tnix_features\tnix-command flakes\n")["nix"] == \
        {"present": True, "flakes": True}
    assert probe.parse_host(LINUX_PVM_QEMU + nix + "host\tnix_features\tnix-command\n")["nix"] == \
        {"present": True, "flakes": False}
    assert probe.parse_host(LINUX_PVM_QEMU)["nix"] == {"present": False, "flakes": False}


def test_an_image_link_without_its_manifest_is_incomplete() -> None:
    facts = probe.parse_host(LINUX_PVM_QEMU + "image\thalf\ttarget\t../artifacts/abc\n")
    assert facts["images"]["half"]["complete"] is False and facts["warnings"] == []
