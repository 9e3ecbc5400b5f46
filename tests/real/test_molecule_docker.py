"""The host role's Molecule scenario with the Docker driver (molecule/docker) for real: `molecule test -s docker` with the
Docker driver, on an image this test builds from Debian's packages (scripts/molecule-image.sh: mmdebstrap, then
docker import). The role provisions the fresh container, the collection's up playbook boots the example VM inside it
(QEMU under TCG), Molecule's idempotence step runs the converge again and fails on any change, verify.yml reads the
guest's readiness, and the container is destroyed. While Molecule runs, the docker SDK watches the container: it
runs the image built here, unprivileged, and QEMU runs inside it."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, need_dockerd, need_root
from tests.real.conftest import ENV


def _watch(client, name: str, seen: dict, stop: threading.Event) -> None:
    """What the container is while Molecule drives it: its image and mode, and whether QEMU runs in it."""
    import docker.errors

    while not stop.is_set():
        try:
            container = client.containers.get(name)
            seen["image"] = container.attrs["Config"]["Image"]
            seen["privileged"] = container.attrs["HostConfig"]["Privileged"]
            if container.status == "running":
                commands = [p[-1] for p in container.top(ps_args="-eo pid,args").get("Processes") or []]
                if any("qemu-system-x86_64" in c and "mvm-example" in c for c in commands):
                    seen["qemu"] = True
        except (docker.errors.NotFound, docker.errors.APIError):
            pass
        stop.wait(1.0)


@pytest.mark.real
@pytest.mark.timeout(1500)
def test_molecule_provisions_a_fresh_debian_container_boots_the_example_and_destroys_it(tmp_path: Path) -> None:
    need_root()
    need_dockerd()
    import docker

    tag = "%d-%d" % (os.getpid(), int(time.time()))
    image = "mvm-molecule-test/debian:bookworm-" + tag
    instance = "mvm-molecule-" + tag
    env = dict(ENV, MVM_MOLECULE_IMAGE=image, MVM_MOLECULE_INSTANCE=instance, MVM_MOLECULE_REBUILD="1",
               MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path / "ephemeral"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               ANSIBLE_FORCE_COLOR="0", PY_COLORS="0", NO_COLOR="1")
    env.pop("ANSIBLE_CONFIG", None)  # Molecule writes its own
    client = docker.from_env()
    seen: dict = {}
    stop = threading.Event()
    try:
        built = subprocess.run(["bash", str(REPO / "scripts/molecule-image.sh"), "build"], env=env, capture_output=True,
                               text=True)
        assert built.returncode == 0, built.stdout + built.stderr
        assert client.images.get(image).labels.get("mvm.test") == "molecule"

        watcher = threading.Thread(target=_watch, args=(client, instance, seen, stop), daemon=True)
        watcher.start()
        proc = subprocess.run([str(Path(ENV["PATH"].split(":")[0]) / "molecule"), "test", "-s", "docker"], cwd=REPO,
                              env=env, capture_output=True, text=True)
        stop.set()
        watcher.join()
        out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
        assert proc.returncode == 0, out[-6000:]
        for step in ("create", "converge", "idempotence", "verify", "destroy"):
            assert re.search(r"%s: Executed: Successful" % step, out), (step, out[-4000:])
        # The first converge changed the fresh host (the role's packages, the image, the VM); the idempotence
        # step's run changed nothing (Molecule fails the step otherwise, and says which task changed).
        assert re.search(r"Install the packages the backend needs \(Debian\)\]\s*\**\s*changed:", out), out[-4000:]
        assert seen.get("image") == image and seen.get("privileged") is False, seen
        assert seen.get("qemu"), "no QEMU process for mvm-example was seen in the container: %s" % seen
        # Destroyed: nothing of the scenario is left.
        assert not client.containers.list(all=True, filters={"name": instance})
    finally:
        stop.set()
        for c in client.containers.list(all=True, filters={"name": instance}):
            c.remove(force=True)
        subprocess.run(["bash", str(REPO / "scripts/molecule-image.sh"), "remove"], env=env, capture_output=True)
