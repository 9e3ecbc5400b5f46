"""Image bundles (module_utils/bundle.py): an export written once and signed, an import checked (digest before any
command, signature on the host's copy) and unpacked; every nested field's hostile value refused by name. Through
the engine, the Ansible module in check mode and the pyinfra operation (same commands from all three)."""

from __future__ import annotations

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import bundle, spec
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from tests.support import frontends
from tests.support.probes import host

HEX = "ab" * 32
SOURCE = {"path": "/srv/web.tar", "digest": "sha256:" + HEX, "signature": "/srv/web.tar.sig",
          "allowed_signers": "/etc/mvm/allowed_signers", "signer": "builder@example.org", "require_signature": True}
FILES = {"/srv/web.tar": HEX, "/srv/web.tar.sig": "cd" * 32, "/etc/mvm/allowed_signers": "ef" * 32}


def test_a_signed_bundle_is_copied_checked_unpacked_and_published() -> None:
    commands = frontends.three_ways("image", {"name": "web", "bundle": SOURCE}, host(), FILES)
    assert "[ -f /srv/web.tar ] || { echo 'bundle /srv/web.tar is not on the host'" in commands[1]
    verify = commands[2]
    assert "sha256sum -c --status" in verify and HEX in verify
    assert "ssh-keygen -Y verify -f /etc/mvm/allowed_signers -I builder@example.org -n mvm-image -s /srv/web.tar.sig" \
        in verify
    assert "tar -tvf" in commands[3] and "tar --no-same-owner -xf" in commands[3]
    assert "ln -sfn ../artifacts/" in commands[-1]


@pytest.mark.parametrize("change,field", [
    ({"signature": None}, "bundle.signature"),  # required, absent: refused before anything
    ({"digest": "sha256:" + "00" * 32}, "bundle.digest"),  # the file has another digest
    ({"digest": "md5:abc"}, "bundle.digest"),
    ({"allowed_signers": None}, "bundle.allowed_signers"),
    ({"signer": "a b;reboot"}, "bundle.signer"),
    ({"path": "relative.tar"}, "bundle.path"),
    ({"path": "/srv/x\ny.tar"}, "bundle.path"),
    ({"signature": "/srv/../etc/shadow"}, "bundle.signature"),
    ({"require_signature": "maybe"}, "bundle.require_signature"),
    ({"unknown": 1}, "bundle.unknown"),
])
def test_a_bundle_that_cannot_be_trusted_is_refused_naming_the_field(change: dict, field: str) -> None:
    source = {k: v for k, v in dict(SOURCE, **change).items() if v is not None}
    with pytest.raises(SpecError) as err:
        frontends.engine("image", {"name": "web", "bundle": source}, frontends.Recording(host(), FILES))
    assert err.value.field == field, err.value
    module = frontends.ansible("image", {"name": "web", "bundle": source}, frontends.Recording(host(), FILES))
    assert module.failed and field.split(".")[-1] in module.result["msg"], module.result


def test_a_bundle_not_on_the_host_yet_is_planned_and_its_copy_step_says_so() -> None:
    """pyinfra plans every operation before the first runs: the bundle a files.put before it brings is not there."""
    missing = {k: v for k, v in FILES.items() if k != "/srv/web.tar"}
    plan = frontends.engine("image", {"name": "web", "bundle": SOURCE}, frontends.Recording(host(), missing))
    assert plan.steps[1].description == "copy bundle /srv/web.tar" and "is not on the host" in plan.steps[1].command


def test_a_bundle_is_the_only_source_and_brings_its_own_kernel() -> None:
    for other in ({"oci": "docker://r.example/app:1"}, {"kernel": "mvm"}, {"rootfs_size": 80}):
        with pytest.raises(SpecError) as err:
            spec.image_spec(dict({"bundle": SOURCE}, **other))
        assert err.value.field == "bundle"


def test_an_export_is_written_and_signed_once() -> None:
    params = {"export": {"dir": "/srv/out", "signing_key": "/root/.ssh/mvm", "signer": "builder@example.org"}}
    plan = frontends.engine("image", params, frontends.Recording(host(), {}))
    ident = plan.after["id"]
    target = "/srv/out/%s.tar" % ident
    write, sign, link = plan.steps[-3:]
    assert write.description == "write bundle %s" % target
    assert "tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner" in write.command
    assert sign.command.endswith("ssh-keygen -q -Y sign -f /root/.ssh/mvm -n mvm-image %s" % target)
    assert link.command == ("ln -sfn %s.tar /srv/out/default.tar && ln -sfn %s.tar.sig /srv/out/default.tar.sig"
                            % (ident, ident))
    assert bundle.file_of(bundle.export(params["export"]), ident) == target
    # All there (the link reads as the bundle's own bytes): nothing to do
    done = {target: "aa" * 32, target + ".sig": "bb" * 32, "/srv/out/default.tar": "aa" * 32,
            "/srv/out/default.tar.sig": "bb" * 32}
    plan = frontends.engine("image", params, frontends.Recording(host(), done))
    assert not [s for s in plan.steps if "bundle" in s.description] and plan.result["bundle_digest"] == "sha256:" + "aa" * 32
    # The link points at another (older) bundle: only the link moves
    plan = frontends.engine("image", params, frontends.Recording(host(), dict(done, **{"/srv/out/default.tar": "cc" * 32})))
    assert [s.description for s in plan.steps if "bundle" in s.description] == ["link /srv/out/default.tar to bundle %s" % ident]

