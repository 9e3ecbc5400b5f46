"""playbooks/fleet.yml and playbooks/fleet.py for real over three VM hosts (network namespaces with their own sshd
and state root, over SSH): the pool's image built once on the build host, exported and signed, brought to the
controller, copied to every host, verified there (digest and signature, require_signature) and the pool spread
on its tenant's isolated bridges. Each front-end's second run changes nothing; a pool whose pinned digest is not
the bundle's stops before any VM starts."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from typing import Iterator

import pytest

from tests.conftest import REPO, need_root
from tests.real.conftest import BIN, ENV, engine_apply, host_facts, kill_under
from tests.support.ssh_lab import SshLab, write_inventories

HOSTS = ("fh1", "fh2", "fh3")
SIGNER = "builder@mvm.test"
FLEET = """tenants:
  - {name: acme, subnet_pool: 10.84.0.0/16}
pools:
  - name: web
    tenant: acme
    backend: qemu
    image: {name: web, digest: "%s"}
    instances: 3
    memory: 128
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[dict]:
    need_root()
    work = tmp_path_factory.mktemp("fleetpb")
    labs = {}
    try:
        key = work / "signing_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", SIGNER, "-f", str(key)], check=True)
        (work / "allowed_signers").write_text('%s namespaces="mvm-image" %s' % (SIGNER, (work / "signing_key.pub").read_text()))
        for i, name in enumerate(HOSTS):
            (work / name).mkdir()
            labs[name] = SshLab.start(work / name, octet=44 + i)
        # The digest to pin: the build host's bundle of the image (the playbook finds it built and exported).
        export = {"dir": str(work / "fh1" / "bundles"), "signing_key": str(key), "signer": SIGNER}
        engine_apply("image", {"name": "web.build", "state_root": str(work / "fh1" / "st"), "export": export})
        digest = "sha256:" + hashlib.sha256((work / "fh1" / "bundles" / "web.build.tar").read_bytes()).hexdigest()
        (work / "fleet.yml").write_text(FLEET % digest)
        (work / "wrong.yml").write_text(FLEET % ("sha256:" + "0" * 64))
        write_inventories(work, labs, mvm_bundle_dir="{dir}/bundles")
        yield {"work": work, "digest": digest}
    finally:
        for name, one in labs.items():
            kill_under(work / name / "st")
            one.stop()
        shutil.rmtree(work, ignore_errors=True)


def ansible(lab: dict, fleet: str = "fleet.yml", rc: int = 0) -> tuple[int, str]:
    work = lab["work"]
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(work / "hosts.yml"), str(REPO / "playbooks/fleet.yml"),
                           "-e", "fleet_file=%s" % (work / fleet), "-e", "pool_name=web",
                           "-e", "signing_key=%s" % (work / "signing_key"), "-e", "signer=%s" % SIGNER,
                           "-e", "allowed_signers=%s" % (work / "allowed_signers"),
                           "-e", "controller_dir=%s" % (work / "controller")], capture_output=True, text=True, env=ENV)
    out = proc.stdout + proc.stderr
    assert proc.returncode == rc, out[-5000:]
    return sum(int(n) for n in re.findall(r"changed=(\d+)", out)), out


def pyinfra(lab: dict) -> str:
    work = lab["work"]
    proc = subprocess.run([str(BIN / "pyinfra"), "-y", str(work / "inventory.py"), str(REPO / "playbooks/fleet.py"),
                           "--data", "fleet_file=%s" % (work / "fleet.yml"), "--data", "pool_name=web",
                           "--data", "signing_key=%s" % (work / "signing_key"), "--data", "signer=%s" % SIGNER,
                           "--data", "allowed_signers=%s" % (work / "allowed_signers"),
                           "--data", "controller_dir=%s" % (work / "pyinfra-controller")],
                          capture_output=True, text=True, env=ENV)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    return out


def test_the_fleet_playbook_carries_a_signed_image_to_every_host_and_spreads_the_pool(lab: dict) -> None:
    work = lab["work"]
    _, out = ansible(lab, "wrong.yml", rc=2)  # the pinned digest is not the bundle's: refused on every host
    assert "not the pinned sha256:0000" in out, out[-3000:]
    assert all(not host_facts(work / h / "st")["vms"] for h in HOSTS)
    changed, out = ansible(lab)
    assert changed > 0
    for i, name in enumerate(HOSTS):
        facts = host_facts(work / name / "st")
        assert facts["images"]["web"]["manifest"]["bundle"] == {"digest": lab["digest"], "signed_by": SIGNER}
        vm = facts["vms"]["web-%d" % i]
        assert vm["state"] == "running" and vm["applied"]["network"]["name"] == "mvt-acme"
    assert ansible(lab)[0] == 0
    out = pyinfra(lab)  # the pyinfra twin: its own controller copy is brought once, then nothing changes
    second = pyinfra(lab)
    assert "] Success" not in second and all("[%s] No changes" % h in second for h in HOSTS), "\n".join(
        line for line in second.splitlines() if " will " in line or "Success" in line or "rror" in line)
    assert (work / "pyinfra-controller" / "web.tar").read_bytes() == (work / "controller" / "web.tar").read_bytes()
    for i, name in enumerate(HOSTS):  # the same placement as Ansible's: nothing moved
        assert host_facts(work / name / "st")["vms"]["web-%d" % i]["state"] == "running"
