"""Image bundles for real: an image exported once (a tar of its artifact, the same bytes every time) and signed
with an SSH key (ssh-keygen -Y sign), imported into another state root by ansible-playbook and by pyinfra after
its digest and signature are checked on the host, and booted under QEMU. Refused: an unsigned bundle where a
signature is required, a bundle whose digest is not the pinned one (before any command), a tampered one under
its own digest (the signature does not verify), one that holds a symlink; none leaves an image or a build
directory behind."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from tests.real.conftest import BIN, ENV, PLAYBOOKS, ansible_playbook, engine_apply, host_facts, seed_image

DEPLOY = Path(__file__).parent / "deploys/bundle_import.py"
SIGNER = "builder@mvm.test"


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, built_image: Path) -> dict:
    work = tmp_path_factory.mktemp("bundle")
    key = work / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", SIGNER, "-f", str(key)], check=True)
    signers = work / "allowed_signers"
    signers.write_text('%s namespaces="mvm-image" %s' % (SIGNER, (work / "key.pub").read_text()))
    build = work / "build"
    seed_image(built_image, build)
    params = {"state_root": str(build), "export": {"dir": str(work / "out"), "signing_key": str(key), "signer": SIGNER}}
    plan = engine_apply("image", params)
    assert [s.description.split(" ")[0] for s in plan.steps] == ["write", "sign", "link"], plan.steps
    assert not engine_apply("image", params).changed
    ident = host_facts(build)["images"]["default"]["id"]
    bundle = work / "out" / ("%s.tar" % ident)
    assert bundle.stat().st_mode & 0o077 == 0 and (work / "out" / ("%s.tar.sig" % ident)).exists()
    first = sha256(bundle)
    bundle.unlink()
    (work / "out" / ("%s.tar.sig" % ident)).unlink()
    engine_apply("image", params)
    assert sha256(bundle) == first  # the same bytes for the same image
    assert sha256(work / "out" / "default.tar") == first  # the image's name links to its current bundle
    return {"work": work, "bundle": bundle, "digest": first, "signers": signers, "key": key}


def _args(exported: dict) -> tuple[str, ...]:
    return ("-e", "bundle_path=%s" % exported["bundle"], "-e", "bundle_digest=%s" % exported["digest"],
            "-e", "allowed_signers=%s" % exported["signers"])


def test_a_signed_bundle_is_verified_imported_and_boots_through_ansible_and_pyinfra(exported: dict,
                                                                                 tmp_path_factory) -> None:
    root = tmp_path_factory.mktemp("imp")
    rc, out, changed = ansible_playbook(PLAYBOOKS / "bundle_import.yml", root, "--check", *_args(exported))
    assert (rc, changed) == (0, 1) and not (root / "images").exists(), out
    rc, out, changed = ansible_playbook(PLAYBOOKS / "bundle_import.yml", root, *_args(exported))
    assert (rc, changed) == (0, 1), out
    assert ansible_playbook(PLAYBOOKS / "bundle_import.yml", root, *_args(exported))[2] == 0
    image = host_facts(root)["images"]["web"]
    assert image["manifest"]["bundle"] == {"digest": exported["digest"], "signed_by": SIGNER}
    for run in ("first", "second"):
        proc = subprocess.run([str(BIN / "pyinfra"), "-y", "@local", str(DEPLOY), "--data", "mvm_state_root=%s" % root,
                               "--data", "image=web2", "--data", "bundle_path=%s" % exported["bundle"],
                               "--data", "bundle_digest=%s" % exported["digest"],
                               "--data", "allowed_signers=%s" % exported["signers"]],
                              capture_output=True, text=True, env=ENV, cwd="/")
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-3000:]
        assert ("[@local] Success" in out) == (run == "first"), out[-3000:]
    assert host_facts(root)["images"]["web2"]["id"] == image["id"]  # one artifact, by the bundle's digest
    engine_apply("vm", {"name": "b1", "image": "web", "backend": "qemu", "state_root": str(root)})
    vm = host_facts(root)["vms"]["b1"]
    assert vm["state"] == "running" and vm["ready"]
    engine_apply("vm", {"name": "b1", "state": "absent", "state_root": str(root)})


def _import(root: Path, exported: dict, **bundle) -> dict:
    params = {"path": str(exported["bundle"]), "digest": exported["digest"], "signature": str(exported["bundle"]) + ".sig",
              "allowed_signers": str(exported["signers"]), "signer": SIGNER, "require_signature": True}
    params.update(bundle)
    return {"name": "bad", "state_root": str(root), "bundle": {k: v for k, v in params.items() if v is not None}}


def _nothing_left(root: Path) -> None:
    assert "bad" not in host_facts(root)["images"]
    assert not list((root / "artifacts").glob(".build-*")) if (root / "artifacts").exists() else True


def test_unsigned_tampered_and_mismatched_bundles_are_refused_and_leave_nothing(exported: dict,
                                                                                tmp_path_factory) -> None:
    root = tmp_path_factory.mktemp("bad")
    work = exported["work"]
    with pytest.raises(SpecError) as err:
        engine_apply("image", _import(root, exported, signature=None))
    assert err.value.field == "bundle.signature" and "require_signature" in str(err.value)
    tampered = work / "tampered.tar"
    data = bytearray(exported["bundle"].read_bytes())
    data[-1] ^= 1  # in the tar's zero padding: the files are the same, the bytes are not
    tampered.write_bytes(bytes(data))
    with pytest.raises(SpecError) as err:  # the pinned digest, before any command
        engine_apply("image", _import(root, exported, path=str(tampered)))
    assert err.value.field == "bundle.digest" and exported["digest"] in str(err.value)
    shutil.copy(str(exported["bundle"]) + ".sig", str(tampered) + ".sig")
    with pytest.raises(Exception, match="does not verify"):  # its own digest, the original's signature
        engine_apply("image", _import(root, exported, path=str(tampered), digest=sha256(tampered),
                                      signature=str(tampered) + ".sig"))
    _nothing_left(root)
    linked = work / "linked.tar"
    with tarfile.open(linked, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(info)
        tar.addfile(tarfile.TarInfo("x"), io.BytesIO(b""))
    with pytest.raises(Exception, match="holds more than files"):
        engine_apply("image", _import(root, exported, path=str(linked), digest=sha256(linked), signature=None,
                                      require_signature=False))
    _nothing_left(root)
