"""mvm benchmarks, measured side by side in one run: `make bench` writes results/latest.json and a table.

Figures (median and spread over repeated runs, and the machine they ran on):
- no-op converge of N = 1, 10, 50 Docker VMs (1, 4, 8 QEMU VMs without a daemon) through ansible-playbook and
  pyinfra, against baselines measured in the same run (a one-ping playbook; `pyinfra @local exec -- true`) and
  against N = 1, with the commands sent to the host; each docker VM's memory beyond what runs in it;
- boot overhead: operation start to guest readiness through mvm, against the same QEMU command line started
  by a bare script waiting for the same marker;
- rebuild: the rootfs operation with unchanged inputs, and a cold build of the image (its kernel from the host's store);
- restore vs boot: restore-to-ready over cold-boot-to-ready on QEMU;
- images: cold and cached builds for each source (busybox, an OCI image from a local registry, the Docker daemon
  and an OCI archive, a Debian minbase + python3), and boot to ready of the OCI guest against the busybox guest;
- inside the guest: a ten-task play in a Debian + python3 QEMU guest through the connection plugin against the same
  play on a VM host over SSH (sshd in a network namespace), and the guest agent's exec round trip.

- starts: cold start of 1, 4, 8 QEMU VMs through `vms` against as many single boots, then their no-op converge;
- example: the converged example (playbooks/up.yml, playbooks/deploy.py) against plays of the same shape;
- probe: the host probe in process with its tool version cache warm, against the cache removed each time;
- kernel: cold build of mvm's kernel; boot to ready with it against the Debian kernel + initramfs and against a
  bare QEMU command line with the same kernel; the VMM's resident memory per idle guest with each kernel.

`MVM_BENCH_ONLY=guest` (or other sections' names, comma-separated) runs those sections and replaces them in latest.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ansible_collections.mvm.microvm.plugins.module_utils import ops, qemu, runner  # noqa: E402
from tests.support import app_image  # noqa: E402
from tests.support.ssh_lab import SshLab, write_inventories  # noqa: E402

BIN = Path(sys.executable).parent
ENV = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{BIN}:{os.environ.get('PATH', '')}")
REPEAT = int(os.environ.get("MVM_BENCH_REPEAT", "5"))


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, Any]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(samples), 4), "min_s": round(min(samples), 4),
            "max_s": round(max(samples), 4), "runs": repeat}


def sh(*argv: str, env: dict | None = None, data: str | None = None) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, env=env or ENV, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def apply(kind: str, params: dict) -> Any:
    gather_host, gather_paths = ops.run_probe(runner.local)
    if kind == "vm":
        plan = ops.vm_plan(params, gather_host, gather_paths)[1]
    elif kind == "image":
        plan = ops.image_plan(params, gather_host, gather_paths)[1]
    elif kind == "snapshot":
        plan = ops.snapshot_plan(params, gather_host, gather_paths)[1]
    else:
        plan = ops.vms_plan(params, gather_host, gather_paths)[1]
    runner.execute(plan, runner.local)
    return plan


def count_commands(fn: Callable[[], Any]) -> int:
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        os.environ["MVM_COMMAND_LOG"] = ENV["MVM_COMMAND_LOG"] = log.name
        try:
            fn()
        finally:
            os.environ.pop("MVM_COMMAND_LOG", None)
            ENV.pop("MVM_COMMAND_LOG", None)
        return len(open(log.name).read().splitlines())


def docker_up() -> bool:
    return subprocess.run(["docker", "version"], capture_output=True).returncode == 0


def converge_bench(root: Path) -> dict[str, Any]:
    backend = "docker" if docker_up() else "qemu"
    out: dict[str, Any] = {"backend": backend, "baseline": {
        "ansible_ping": timed(lambda: sh(str(BIN / "ansible-playbook"), "bench/ping.yml"), REPEAT),
        "pyinfra_exec_true": timed(lambda: sh(str(BIN / "pyinfra"), "@local", "exec", "--", "true"), REPEAT)}}
    sizes = (1, 10, 50) if backend == "docker" else (1, 4, 8)  # 50 TCG guests would not fit this machine
    out["sizes"] = list(sizes)
    for n in sizes:
        vm_list = [{"name": "bench%02d" % i} for i in range(1, n + 1)]
        apply("vms", {"vms": [dict(v, image="default", backend=backend, state_root=str(root)) for v in vm_list]})
        extra = ["-e", f"mvm_state_root={root}", "-e", f"backend={backend}", "-e", json.dumps({"vm_list": vm_list})]
        ansible = lambda extra=extra: sh(str(BIN / "ansible-playbook"), "bench/vms.yml", *extra)  # noqa: E731
        pyinfra = lambda n=n: sh(str(BIN / "pyinfra"), "@local", "bench/vms_deploy.py", "-y",  # noqa: E731
                                 "--data", f"mvm_state_root={root}", "--data", f"n={n}", "--data", f"backend={backend}")
        out[f"n{n}"] = {"ansible": dict(timed(ansible, REPEAT), commands=count_commands(ansible)),
                        "pyinfra": dict(timed(pyinfra, REPEAT), commands=count_commands(pyinfra))}
        for tool, base in (("ansible", "ansible_ping"), ("pyinfra", "pyinfra_exec_true")):
            out[f"n{n}"][tool]["ratio_to_baseline"] = round(
                out[f"n{n}"][tool]["median_s"] / out["baseline"][base]["median_s"], 2)
            out[f"n{n}"][tool]["ratio_to_n1"] = round(
                out[f"n{n}"][tool]["median_s"] / out[f"n{sizes[0]}"][tool]["median_s"], 2)
        if backend == "docker" and n == sizes[-1]:
            out["memory"] = container_memory(root)
    apply("vms", {"vms": [{"name": "bench%02d" % i, "state": "absent", "state_root": str(root)}
                          for i in range(1, sizes[-1] + 1)]})
    return out


def container_memory(root: Path) -> dict[str, Any]:
    """What each docker VM costs beyond what runs in it: its containerd shim (the container's supervisor on the
    host, the docker backend's VMM), proportional set size; and mvm's init inside, for scale. Medians over the
    containers of the state root."""
    pids = sh("sh", "-c", f"docker ps -q --filter label=mvm.state_root={root} | xargs -r docker inspect -f '{{{{.State.Pid}}}}'")
    shim, init = [], []
    for pid in (int(p) for p in pids.split() if p.isdigit() and int(p) > 0):
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        if "containerd-shim" in Path(f"/proc/{parent}/cmdline").read_bytes().decode(errors="replace"):
            shim.append(_pss_mib(parent))
        init.append(_pss_mib(pid))
    return {"containers": len(init), "shim_pss_mib": round(statistics.median(shim), 1) if shim else None,
            "init_pss_mib": round(statistics.median(init), 1) if init else None}


def wait_marker(console: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if console.exists() and b"MVM-READY" in console.read_bytes():
            return
        time.sleep(0.02)
    raise SystemExit(f"no readiness marker in {console}")


def boot_bench(root: Path) -> dict[str, Any]:
    vm = {"name": "boot", "image": "default", "backend": "qemu", "state_root": str(root)}

    def through_mvm() -> None:
        apply("vm", vm)
        apply("vm", dict(vm, state="absent"))

    applied = apply("vm", vm).after["spec"]
    apply("vm", dict(vm, state="absent"))
    bare_dir = root / "bare"

    def bare_script() -> None:
        """The same QEMU command line, by hand: start, wait for the marker, stop."""
        bare_dir.mkdir(exist_ok=True)
        shutil.copy(applied["rootfs"], bare_dir / "disk.ext4")
        argv = qemu.argv(dict(applied, name="bare"), str(bare_dir))
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        wait_marker(bare_dir / "console.log")
        proc.kill()
        proc.wait()
        shutil.rmtree(bare_dir)

    reps = max(3, REPEAT - 2)
    mvm_t, bare_t = timed(through_mvm, reps), timed(bare_script, reps)
    return {"through_mvm_incl_removal": mvm_t, "bare_script_incl_kill": bare_t,
            "ratio": round(mvm_t["median_s"] / bare_t["median_s"], 2)}


def rebuild_bench(root: Path) -> dict[str, Any]:
    unchanged = timed(lambda: apply("image", {"state_root": str(root)}), REPEAT)
    probe = timed(lambda: ops.run_probe(runner.local)[0](str(root)), REPEAT)

    def cold() -> None:
        fresh = Path(tempfile.mkdtemp(prefix="mvm-bench-cold-"))
        try:
            apply("image", {"state_root": str(fresh)})
        finally:
            shutil.rmtree(fresh)

    cold_t = timed(cold, 2)
    return {"unchanged": unchanged, "fact_round_trip": probe, "cold_build": cold_t,
            "unchanged_over_fact_round_trip": round(unchanged["median_s"] / probe["median_s"], 2)}


def restore_bench(root: Path) -> dict[str, Any]:
    vm = {"name": "snap", "image": "default", "backend": "qemu", "state_root": str(root)}
    apply("vm", vm)
    apply("snapshot", {"name": "bench", "vm": "snap", "resume": False, "state_root": str(root)})
    apply("vm", dict(vm, state="absent"))

    def restore() -> None:
        apply("vm", dict(vm, snapshot="bench"))
        apply("vm", dict(vm, state="absent"))

    def boot() -> None:
        apply("vm", vm)
        apply("vm", dict(vm, state="absent"))

    reps = max(3, REPEAT - 2)
    restore_t, boot_t = timed(restore, reps), timed(boot, reps)
    apply("snapshot", {"name": "bench", "state": "absent", "state_root": str(root)})
    return {"restore_to_ready_incl_removal": restore_t, "cold_boot_to_ready_incl_removal": boot_t,
            "ratio": round(restore_t["median_s"] / boot_t["median_s"], 2)}


def machine() -> dict[str, Any]:
    kvm = sorted(p.name for p in Path("/sys/module").iterdir() if p.name.startswith("kvm")) \
        if Path("/sys/module").exists() else []
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "kvm_modules": kvm, "accel": "tcg" if "kvm_intel" not in kvm and "kvm_amd" not in kvm else "kvm",
            "qemu": sh("qemu-system-x86_64", "--version").splitlines()[0]}


def image_bench(root: Path) -> dict[str, Any]:
    """Cold (artifact removed first) and cached builds per source; boot to ready of an OCI guest vs busybox."""
    common = {"state_root": str(root)}  # the default kernel (mvm's, from the host's store)
    work = Path(tempfile.mkdtemp(prefix="mvm-bench-img-"))
    registry = None
    out: dict[str, Any] = {}
    try:
        sources: dict[str, dict[str, Any]] = {"busybox": {}}
        if docker_up() and shutil.which("skopeo") and shutil.which("umoci"):
            app_image.build(work, "mvm-bench/app:1")
            sources["docker-daemon"] = {"oci": "docker-daemon:mvm-bench/app:1"}
            sh("skopeo", "copy", "-q", "docker-daemon:mvm-bench/app:1", f"oci-archive:{work}/app.tar:app")
            sources["oci-archive"] = {"oci": f"oci-archive:{work}/app.tar"}
            if shutil.which("docker-registry"):
                (work / "reg.yml").write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {work}/reg\n"
                                              "http:\n  addr: 127.0.0.1:5099\n")
                registry = subprocess.Popen(["docker-registry", "serve", str(work / "reg.yml")],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for _ in range(100):
                    if subprocess.run(["curl", "-s", "http://127.0.0.1:5099/v2/"], capture_output=True).returncode == 0:
                        break
                    time.sleep(0.1)
                sh("skopeo", "copy", "-q", "--dest-tls-verify=false", "docker-daemon:mvm-bench/app:1",
                   "docker://127.0.0.1:5099/app:1")
                sources["registry"] = {"oci": "docker://127.0.0.1:5099/app:1", "tls_verify": False}
        if shutil.which("mmdebstrap"):
            sources["debian"] = {"debian": {"packages": ["python3"]}}
        for name, source in sources.items():
            params = dict(common, name="b-" + name, **source)

            def cold(params: dict = params) -> None:
                """Every benchmark image and its artifact removed first: the OCI sources share one artifact (the
                same content), so removing only this name's would leave another's to hit."""
                for found in (root / "images").glob("b-*"):
                    shutil.rmtree(found.resolve(), ignore_errors=True)
                    found.unlink()
                apply("image", params)

            reps = 1 if name == "debian" else 3
            out[name] = {"cold": timed(cold, reps), "cached": timed(lambda params=params: apply("image", params), 3)}
        if "docker-daemon" in sources:
            apply("image", dict(common, name="b-docker-daemon", **sources["docker-daemon"]))  # cold() removed it

            def boot(image: str) -> Callable[[], None]:
                def run() -> None:
                    vm = {"name": "ib", "image": image, "backend": "qemu", "state_root": str(root),
                          "command": ["sleep", "3600"]}
                    apply("vm", vm)
                    apply("vm", dict(vm, state="absent"))
                return run
            out["boot_oci"] = timed(boot("b-docker-daemon"), 3)
            out["boot_busybox"] = timed(boot("default"), 3)
            out["boot_ratio"] = round(out["boot_oci"]["median_s"] / out["boot_busybox"]["median_s"], 2)
    finally:
        if registry is not None:
            registry.terminate()
        app_image.remove("mvm-bench/app:1")
        shutil.rmtree(work, ignore_errors=True)
    return out


def guest_bench(root: Path) -> dict[str, Any]:
    """A ten-task play inside a Debian + python3 guest (qemu-ga over virtio-serial) against the same play on a VM
    host over SSH; the agent's exec round trip and session set-up."""
    from ansible_collections.mvm.microvm.plugins.module_utils import agent

    apply("image", {"name": "py", "debian": {"packages": ["python3"]}, "state_root": str(root)})
    apply("vm", {"name": "gb", "image": "py", "backend": "qemu", "memory": 384, "state_root": str(root)})
    target = agent.Target("gb", state_root=str(root))
    opened = timed(lambda: agent.open_session(target).close(), REPEAT)
    with agent.open_session(target) as session:
        exec_rt = timed(lambda: session.exec("true"), 50)
    work = Path(tempfile.mkdtemp(prefix="mvm-bench-ssh-"))
    lab = SshLab.start(work, octet=9)
    try:
        (work / "guest.ini").write_text("gb ansible_connection=mvm.microvm.vm ansible_mvm_state_root=%s "
                                        "ansible_python_interpreter=/usr/bin/python3\n" % root)
        (work / "ssh.ini").write_text("lab ansible_host=%s ansible_user=root ansible_ssh_private_key_file=%s "
                                      "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null' "
                                      "ansible_python_interpreter=/usr/bin/python3\n" % (lab.address, work / "user_key"))
        play = lambda inv: sh(str(BIN / "ansible-playbook"), "-i", str(work / inv), "bench/guest_play.yml")  # noqa: E731
        play("guest.ini")
        play("ssh.ini")  # first runs create the files: the timed runs are converged
        reps = max(3, REPEAT - 2)
        inside, over_ssh = timed(lambda: play("guest.ini"), reps), timed(lambda: play("ssh.ini"), reps)
    finally:
        lab.stop()
        shutil.rmtree(work, ignore_errors=True)
        apply("vm", {"name": "gb", "state": "absent", "state_root": str(root)})
    return {"play_in_guest": inside, "play_over_ssh": over_ssh,
            "ratio": round(inside["median_s"] / over_ssh["median_s"], 2),
            "exec_round_trip": exec_rt, "session_open": opened}


def _rss_mib(pid: int) -> float:
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


FLEET_HOSTS = 3


def fleet_bench(root: Path) -> dict[str, Any]:
    """No-op converge of a pool of three QEMU guests over three VM hosts (network namespaces with their own sshd
    and state root, over SSH) against a play of the same shape (two tasks, the same hosts) whose tasks ping."""
    work = Path(tempfile.mkdtemp(prefix="mvm-bench-fleet-"))
    labs = {}  # type: dict[str, SshLab]
    try:
        for i in range(FLEET_HOSTS):
            host = work / ("h%d" % i)
            host.mkdir()
            labs[host.name] = SshLab.start(host, octet=50 + i)
            state = host / "st"
            (state / "images").mkdir(parents=True, mode=0o700)
            shutil.copytree(root / "artifacts", state / "artifacts")
            for link in (root / "images").iterdir():
                (state / "images" / link.name).symlink_to(os.readlink(link))
        write_inventories(work, labs)
        (work / "fleet.yml").write_text(
            "tenants: [{name: bench, subnet_pool: 10.90.0.0/16}]\npools:\n  - {name: web, tenant: bench, "
            "backend: qemu, memory: 128, instances: %d, image: {name: default, digest: \"sha256:%s\"}}\n"
            % (FLEET_HOSTS, "0" * 64))
        play = lambda name: sh(str(BIN / "ansible-playbook"), "-i", str(work / "hosts.yml"),  # noqa: E731
                               "bench/%s" % name, "-e", "fleet_file=%s" % (work / "fleet.yml"))
        play("fleet.yml")  # the pool comes up once; what is timed is the converged run
        out = {"hosts": FLEET_HOSTS, "instances": FLEET_HOSTS, "noop_converge": timed(lambda: play("fleet.yml"), REPEAT),
               "ping_same_shape": timed(lambda: play("fleet_ping.yml"), REPEAT)}
        out["ratio"] = round(out["noop_converge"]["median_s"] / out["ping_same_shape"]["median_s"], 2)
        return out
    finally:
        for lab in labs.values():
            lab.stop()
        shutil.rmtree(work, ignore_errors=True)


def starts_bench(root: Path) -> dict[str, Any]:
    """Cold start of 1, 4 and 8 QEMU VMs through one `vms` operation (every VM started, then all waited for)
    against as many single boots through `vm`, one after another, in the same run. Removal is not timed."""
    one = {"image": "default", "backend": "qemu", "state_root": str(root)}

    def single() -> None:
        apply("vm", dict(one, name="st"))

    def gone(names: list[str]) -> None:
        apply("vms", {"vms": [{"name": n, "state": "absent", "state_root": str(root)} for n in names]})

    reps = max(3, REPEAT - 2)
    runs = []
    for _ in range(reps):
        runs.append(timed(single, 1)["median_s"])
        gone(["st"])
    boot = round(statistics.median(runs), 4)
    out: dict[str, Any] = {"single_boot_s": boot}
    for n in (1, 4, 8):
        names = ["bench%02d" % i for i in range(1, n + 1)]
        times = []
        for rep in range(reps):
            start = time.perf_counter()
            apply("vms", {"vms": [dict(one, name=name) for name in names]})
            times.append(time.perf_counter() - start)
            if rep == 0:
                noop = noop_converge(root, "qemu", names)
            gone(names)
        median = round(statistics.median(times), 4)
        out["n%d" % n] = {"median_s": median, "min_s": round(min(times), 4), "max_s": round(max(times), 4),
                          "runs": reps, "ratio_to_n_single_boots": round(median / (n * boot), 2), "noop": noop}
    for n in (4, 8):
        for tool in ("ansible", "pyinfra"):
            out["n%d" % n]["noop"][tool]["ratio_to_n1"] = round(
                out["n%d" % n]["noop"][tool]["median_s"] / out["n1"]["noop"][tool]["median_s"], 2)
    return out


def noop_converge(root: Path, backend: str, names: list[str]) -> dict[str, Any]:
    """The same `vms` run again on the VMs it made: time and commands sent, through both front-ends."""
    vm_list = [{"name": name} for name in names]
    extra = ["-e", f"mvm_state_root={root}", "-e", f"backend={backend}", "-e", json.dumps({"vm_list": vm_list})]
    ansible = lambda: sh(str(BIN / "ansible-playbook"), "bench/vms.yml", *extra)  # noqa: E731
    pyinfra = lambda: sh(str(BIN / "pyinfra"), "@local", "bench/vms_deploy.py", "-y", "--data",  # noqa: E731
                         f"mvm_state_root={root}", "--data", f"n={len(names)}", "--data", f"backend={backend}")
    return {"ansible": dict(timed(ansible, REPEAT), commands=count_commands(ansible)),
            "pyinfra": dict(timed(pyinfra, REPEAT), commands=count_commands(pyinfra))}


def example_bench(root: Path) -> dict[str, Any]:
    """The README's first command, converged: playbooks/up.yml (facts, rootfs, vm, debug) against a play of the
    same shape whose mvm tasks are pings (bench/up_same_shape.yml), and playbooks/deploy.py (rootfs, vm) against
    `pyinfra @local exec -- true`, in one run; the example VM is booted once before and removed after."""
    def up() -> str:
        return sh(str(BIN / "ansible-playbook"), "-i", "inventory/hosts.yml", "playbooks/up.yml",
                  "-e", f"mvm_state_root={root}")

    def deploy() -> str:
        return sh(str(BIN / "pyinfra"), "inventory/inventory.py", "playbooks/deploy.py", "-y",
                  "--data", f"mvm_state_root={root}")

    try:
        first = up()
        deploy()
        backend = "docker" if "on docker" in first else "qemu" if "on qemu" in first else "?"
        out: dict[str, Any] = {
            "backend": backend,
            "up_yml": timed(up, REPEAT),
            "up_same_shape": timed(lambda: sh(str(BIN / "ansible-playbook"), "-i", "inventory/hosts.yml",
                                              "bench/up_same_shape.yml"), REPEAT),
            "deploy_py": timed(deploy, REPEAT),
            "pyinfra_exec_true": timed(lambda: sh(str(BIN / "pyinfra"), "@local", "exec", "--", "true"), REPEAT)}
    finally:
        apply("vm", {"name": "mvm-example", "state": "absent", "state_root": str(root)})
    out["up_ratio"] = round(out["up_yml"]["median_s"] / out["up_same_shape"]["median_s"], 2)
    out["deploy_ratio"] = round(out["deploy_py"]["median_s"] / out["pyinfra_exec_true"]["median_s"], 2)
    return out


def probe_bench(root: Path) -> dict[str, Any]:
    """The host probe in process (the script through /bin/sh, then parsed) on the bench's state root: with its
    tool version cache warm, against the same probe with the cache removed before each run (every tool asked)."""
    from ansible_collections.mvm.microvm.plugins.module_utils import probe

    script = probe.host_probe(str(root))
    cache = root / probe.VERSION_CACHE

    def once() -> None:
        probe.parse_host(subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=True).stdout)

    def cold() -> None:
        cache.unlink(missing_ok=True)
        once()

    reps = max(10, REPEAT * 2)
    uncached = timed(cold, reps)
    once()
    cached = timed(once, reps)
    return {"cached": cached, "uncached": uncached, "ratio": round(cached["median_s"] / uncached["median_s"], 2),
            "docker_daemon": bool(shutil.which("docker")) and subprocess.run(
                ["docker", "info"], capture_output=True).returncode == 0}


def _pss_mib(pid: int) -> float:
    for line in Path("/proc/%d/smaps_rollup" % pid).read_text().splitlines():
        if line.startswith("Pss:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


GUESTS = 4  # idle guests side by side for the memory figures


def kernel_bench(root: Path) -> dict[str, Any]:
    """mvm's kernel: cold build (a store of its own, nothing cached), boot to ready through mvm against the Debian
    kernel + initramfs and against a bare QEMU command line with the same kernel, VMM memory of an idle guest."""
    from ansible_collections.mvm.microvm.plugins.module_utils import kernel
    from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan

    inputs = apply("image", {"name": "mk", "kernel": "mvm", "state_root": str(root)}).after["inputs"]["kernel_build"]
    cold_store = Path(tempfile.mkdtemp(prefix="mvm-bench-kernel-"))  # not the host's store: nothing cached
    try:
        cold_plan = Plan()
        kernel.build_steps(cold_plan, str(cold_store), inputs, [])
        start = time.perf_counter()
        runner.execute(cold_plan, runner.local)
        cold = round(time.perf_counter() - start, 1)
    finally:
        shutil.rmtree(cold_store, ignore_errors=True)
    out: dict[str, Any] = {"cold_build_s": cold}
    reps = max(3, REPEAT - 2)
    for label, image in (("mvm", "mk"), ("debian", "debian")):
        vm = {"name": "kb", "image": image, "backend": "qemu", "state_root": str(root)}

        def through_mvm(vm: dict = vm) -> None:
            apply("vm", vm)
            apply("vm", dict(vm, state="absent"))

        out["boot_%s" % label] = timed(through_mvm, reps)
        applied = apply("vm", vm).after["spec"]
        apply("vm", dict(vm, state="absent"))
        # Memory of idle guests side by side: resident, and proportional (what the host's shared pages - QEMU's
        # binary, the image's kernel file - cost each of them).
        guests = [dict(vm, name="kb%d" % n) for n in range(GUESTS)]
        for g in guests:
            apply("vm", g)
        time.sleep(3)  # idle
        pids = [int((root / "vms" / g["name"] / "pid").read_text()) for g in guests]
        out["rss_mib_%s" % label] = round(statistics.mean(_rss_mib(p) for p in pids), 1)
        out["pss_mib_%s" % label] = round(statistics.mean(_pss_mib(p) for p in pids), 1)
        for g in guests:
            apply("vm", dict(g, state="absent"))
        if label == "mvm":
            bare_dir = root / "bare"

            def bare(applied: dict = applied, bare_dir: Path = bare_dir) -> None:
                bare_dir.mkdir(exist_ok=True)
                shutil.copy(applied["rootfs"], bare_dir / "disk.ext4")
                proc = subprocess.Popen(qemu.argv(dict(applied, name="bare"), str(bare_dir)), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                wait_marker(bare_dir / "console.log")
                proc.kill()
                proc.wait()
                shutil.rmtree(bare_dir)

            out["boot_bare_mvm_kernel"] = timed(bare, reps)
    out["ratio_mvm_to_debian"] = round(out["boot_mvm"]["median_s"] / out["boot_debian"]["median_s"], 2)
    out["ratio_mvm_to_bare"] = round(out["boot_mvm"]["median_s"] / out["boot_bare_mvm_kernel"]["median_s"], 2)
    return out


def _row(label: str, t: dict[str, Any], ratio: str) -> str:
    """One timed figure: median, spread, ratio."""
    return f"| {label} | {t['median_s']:.2f} s | {t['min_s']:.2f}-{t['max_s']:.2f} | {ratio} | - |"


def table(report: dict[str, Any]) -> str:
    c, b = report["converge"], report["boot"]
    rows = ["| figure | median | spread | ratio | commands |", "| --- | --- | --- | --- | --- |"]
    for key, label in (("ansible_ping", "baseline: ansible-playbook, one ping"),
                       ("pyinfra_exec_true", "baseline: pyinfra @local exec -- true")):
        t = c["baseline"][key]
        rows.append(f"| {label} | {t['median_s']:.2f} s | {t['min_s']:.2f}-{t['max_s']:.2f} | 1 | - |")
    for n in c.get("sizes", (1, 5, 10)):
        for tool in ("ansible", "pyinfra"):
            t = c[f"n{n}"][tool]
            to_one = f"; {t['ratio_to_n1']} x 1 VM" if "ratio_to_n1" in t and n > 1 else ""
            rows.append(f"| no-op converge, {n} {c['backend']} VMs, {tool} | {t['median_s']:.2f} s | "
                        f"{t['min_s']:.2f}-{t['max_s']:.2f} | {t['ratio_to_baseline']} x baseline{to_one} | "
                        f"{t['commands']} |")
    if c.get("memory"):
        m = c["memory"]
        rows.append(f"| memory per docker VM beyond what runs in it: containerd shim; mvm's init ({m['containers']} "
                    f"containers) | {m['shim_pss_mib']}; {m['init_pss_mib']} MiB (proportional) | - | - | - |")
    rows.append(f"| boot to ready through mvm (qemu, {report['machine']['accel']}) | "
                f"{b['through_mvm_incl_removal']['median_s']:.2f} s | - | {b['ratio']} x bare script | - |")
    rows.append(f"| boot to ready, bare script | {b['bare_script_incl_kill']['median_s']:.2f} s | - | 1 | - |")
    r = report["rebuild"]
    rows.append(f"| rootfs, unchanged inputs | {r['unchanged']['median_s']:.2f} s | - | "
                f"{r['unchanged_over_fact_round_trip']} x fact round trip | - |")
    rows.append(f"| rootfs, cold build | {r['cold_build']['median_s']:.2f} s | - | - | - |")
    s = report["restore"]
    rows.append(f"| restore to ready (qemu snapshot) | {s['restore_to_ready_incl_removal']['median_s']:.2f} s | - | "
                f"{s['ratio']} x cold boot | - |")
    images = report.get("images") or {}
    for name in ("busybox", "registry", "docker-daemon", "oci-archive", "debian"):
        if name in images:
            cold, cached = images[name]["cold"], images[name]["cached"]
            rows.append(f"| image from {name}: cold build, cached | {cold['median_s']:.2f} s, {cached['median_s']:.2f} s | "
                        f"{cold['min_s']:.2f}-{cold['max_s']:.2f} | {round(cached['median_s'] / cold['median_s'], 3)} "
                        f"cached / cold | - |")
    g = report.get("guest")
    if g:
        rows.append(_row(f"ten-task play inside a Debian guest, connection plugin (qemu-ga, {report['machine']['accel']})",
                         g["play_in_guest"], f"{g['ratio']} x over SSH"))
        rows.append(_row("ten-task play on a VM host over SSH", g["play_over_ssh"], "1"))
        rt = {k: v * 1000 for k, v in g["exec_round_trip"].items() if k.endswith("_s")}
        rows.append(f"| guest agent: exec round trip; session open | {rt['median_s']:.1f} ms; "
                    f"{g['session_open']['median_s'] * 1000:.0f} ms | {rt['min_s']:.1f}-{rt['max_s']:.1f} ms | - | - |")
    k = report.get("kernel")
    if k:
        rows.append(f"| mvm's kernel: cold build (linux-source-6.1, {report['machine'].get('cpus', '?')} cores) | "
                    f"{k['cold_build_s']:.0f} s | - | - | - |")
        rows.append(_row("boot to ready incl. removal, mvm's kernel, no initrd", k["boot_mvm"],
                         f"{k['ratio_mvm_to_debian']} x Debian kernel + initramfs ({k['boot_debian']['median_s']:.2f} s); "
                         f"{k['ratio_mvm_to_bare']} x bare QEMU ({k['boot_bare_mvm_kernel']['median_s']:.2f} s)"))
        rows.append(f"| VMM memory per idle 256 MiB busybox guest ({GUESTS} side by side): resident; proportional | "
                    f"{k['rss_mib_mvm']}; {k.get('pss_mib_mvm', '-')} MiB (mvm's kernel) | - | "
                    f"{k['rss_mib_debian']}; {k.get('pss_mib_debian', '-')} MiB with the Debian kernel | - |")
    fl = report.get("fleet")
    if fl:
        rows.append(_row(f"no-op converge of a pool over {fl['hosts']} VM hosts over SSH (facts + pool, ansible)",
                         fl["noop_converge"], f"{fl['ratio']} x same-shape ping play"))
        rows.append(_row("same-shape ping play, the same hosts", fl["ping_same_shape"], "1"))
    st = report.get("starts")
    if st:
        for n in (1, 4, 8):
            rows.append(_row(f"cold start of {n} QEMU VM{'s' if n > 1 else ''} through `vms` ({report['machine']['accel']})",
                             st[f"n{n}"], f"{st[f'n{n}']['ratio_to_n_single_boots']} x {n} single boot"
                                          f"{'s' if n > 1 else ''} ({st['single_boot_s']:.2f} s each)"))
        for n in (1, 4, 8):
            for tool in ("ansible", "pyinfra"):
                t = (st[f"n{n}"].get("noop") or {}).get(tool)
                if t:
                    rows.append(f"| no-op converge, {n} QEMU VM{'s' if n > 1 else ''}, {tool} | {t['median_s']:.2f} s | "
                                f"{t['min_s']:.2f}-{t['max_s']:.2f} | "
                                f"{str(t['ratio_to_n1']) + ' x 1 VM' if n > 1 else '1'} | {t['commands']} |")
    ex = report.get("example")
    if ex:
        rows.append(_row(f"converged playbooks/up.yml ({ex['backend']} VM)", ex["up_yml"],
                         f"{ex['up_ratio']} x same-shape ping play ({ex['up_same_shape']['median_s']:.2f} s)"))
        rows.append(_row(f"converged playbooks/deploy.py, pyinfra ({ex['backend']} VM)", ex["deploy_py"],
                         f"{ex['deploy_ratio']} x pyinfra @local exec -- true ({ex['pyinfra_exec_true']['median_s']:.2f} s)"))
    p = report.get("probe")
    if p:
        for key, label, ratio in (("cached", "version cache warm", f"{p['ratio']} x cache removed"),
                                  ("uncached", "version cache removed", "1")):
            t = {k: v * 1000 for k, v in p[key].items() if k.endswith("_s")}
            rows.append(f"| host probe in process, {label} (dockerd {'running' if p['docker_daemon'] else 'stopped'}) | "
                        f"{t['median_s']:.0f} ms | {t['min_s']:.0f}-{t['max_s']:.0f} ms | {ratio} | - |")
    if "boot_ratio" in images:
        rows.append(f"| boot to ready incl. removal, OCI app guest | {images['boot_oci']['median_s']:.2f} s | - | "
                    f"{images['boot_ratio']} x busybox guest ({images['boot_busybox']['median_s']:.2f} s) | - |")
    return "\n".join(rows)


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="mvm-bench-"))
    # The project's bytecode, as `pip install` leaves an installed package (an editable install under
    # PYTHONDONTWRITEBYTECODE would compile every module from source on each pyinfra run).
    subprocess.run([sys.executable, "-m", "compileall", "-q", "mvm_pyinfra", "ansible_collections/mvm/microvm/plugins"],
                   cwd=REPO, capture_output=True, check=True)
    try:
        started = time.time()
        apply("image", {"state_root": str(root)})  # the default kernel: mvm's where it can be built
        apply("image", {"name": "debian", "kernel": "debian", "state_root": str(root)})  # the other path, to compare
        out = REPO / "bench" / "results" / "latest.json"
        only = os.environ.get("MVM_BENCH_ONLY")
        report = json.loads(out.read_text()) if only else {}
        report.update({"machine": machine(), "repeat": REPEAT})
        sections = {"rebuild": rebuild_bench, "boot": boot_bench, "restore": restore_bench, "images": image_bench,
                    "converge": converge_bench, "guest": guest_bench, "kernel": kernel_bench,
                    "starts": starts_bench, "fleet": fleet_bench, "probe": probe_bench,
                    "example": example_bench}
        for name, bench in sections.items():
            if not only or name in only.split(","):
                report[name] = dict(bench(root), date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        report["duration_s"] = round(time.time() - started, 1)
        out.write_text(json.dumps(report, indent=2) + "\n")
        text = table(report)
        (REPO / "bench" / "results" / "latest.md").write_text(text + "\n")
        print(text)
        print(f"\nwritten to {out} in {report['duration_s']} s")
    finally:
        subprocess.run(f"pkill -9 -f {root}", shell=True)
        subprocess.run(f"docker ps -aq --filter label=mvm.state_root={root} | xargs -r docker rm -f",
                       shell=True, capture_output=True)
        for link in (root / "images").glob("*") if (root / "images").is_dir() else []:
            # The docker backend's image tags (docker_backend.image_tag): the bench leaves no image behind.
            subprocess.run(["docker", "rmi", "-f", "mvm/%s:%s" % (link.name, os.readlink(link).rsplit("/", 1)[-1])],
                           capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
