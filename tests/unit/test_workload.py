"""Workload options: how they merge with an image's settings, what the VM records of them, the disks and kernel
arguments that carry them, and the refusals, each naming its field. Expectations are literals."""

from __future__ import annotations

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import workload
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError, SpecError
from tests.support import frontends
from tests.support.probes import HOSTS, image_lines
from tests.unit.test_catch_bugs import BASE, _running

IMAGE = {"workload": {"entrypoint": ["/docker-entrypoint.sh"], "cmd": ["nginx", "-g", "daemon off;"],
                      "env": ["PATH=/usr/bin:/bin", "GREETING=image"], "workdir": "/srv", "user": "www"}}

# (options, expected argv, env GREETING, workdir, user): as `docker run` merges them.
MERGES = [
    ({}, ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"], "image", "/srv", "www"),
    ({"command": "nginx -T"}, ["/docker-entrypoint.sh", "nginx", "-T"], "image", "/srv", "www"),
    ({"entrypoint": ["/bin/sh"]}, ["/bin/sh"], "image", "/srv", "www"),
    ({"entrypoint": "/bin/sh", "command": ["-c", "echo $X"]}, ["/bin/sh", "-c", "echo $X"], "image", "/srv", "www"),
    ({"env": {"GREETING": "vm"}, "workdir": "/tmp", "user": "1000:1000"},
     ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"], "vm", "/tmp", "1000:1000"),
]


@pytest.mark.parametrize("options,argv,greeting,workdir,user", MERGES, ids=[str(i) for i in range(len(MERGES))])
def test_vm_options_merge_over_the_image_as_docker_run_does(options: dict, argv: list, greeting: str, workdir: str,
                                                            user: str) -> None:
    got = workload.resolve(workload.options(options), workload.image_defaults(IMAGE), {})
    assert got is not None
    assert (got["argv"], got["env"]["GREETING"], got["workdir"], got["user"]) == (argv, greeting, workdir, user)
    assert got["env"]["PATH"] == "/usr/bin:/bin"


def test_an_image_without_settings_and_no_options_runs_nothing() -> None:
    assert workload.resolve(workload.options({}), workload.image_defaults(None), {}) is None


def test_the_run_script_quotes_every_word() -> None:
    resolved = workload.resolve(workload.options({"command": ["echo", "$(reboot)", "a'b"], "env": {"X": "; rm -rf /"}}),
                                workload.image_defaults(None), {})
    assert workload.run_script(resolved or {}) == (
        "#!/mvm/bin/sh\n# written by mvm: the workload of this VM\n"
        "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nexport X='; rm -rf /'\ncd / || exit 127\n"
        "exec echo '$(reboot)' 'a'\"'\"'b'\n")


def test_a_secret_is_hashed_salted_and_never_in_a_command_or_the_record() -> None:
    params = dict(BASE, command="true", secrets=[{"path": "db/password", "content": "hunter2"}])
    plan = frontends.engine("vm", params, frontends.Recording(_running()))
    assert not any("hunter2" in c for c in plan.commands)
    assert "hunter2" not in str(plan.after) and "hunter2" not in str(plan.result)
    recorded = plan.after["spec"]["workload"]["secrets"]["db/password"]
    assert recorded == {"mode": "0600", "hash": "pbkdf2-sha256:" + recorded["hash"].split(":")[1]}
    assert len(recorded["hash"]) == len("pbkdf2-sha256:") + 32
    secret_steps = [s for s in plan.steps if s.stdin]
    assert [s.description for s in secret_steps] == ["write the secrets disk (1 secrets)"]
    assert "/dev/shm/mvm-secrets." in secret_steps[0].command


def test_a_workload_change_restarts_the_vm_on_its_disk_and_remakes_the_config_disk() -> None:
    plan = frontends.engine("vm", dict(BASE, command="true"), frontends.Recording(_running()))
    assert [s.description.split(" (")[0] for s in plan.steps][:3] == [
        "stop VM web to apply: workload", "write the config disk", "record applied spec"]
    assert not any("cp --sparse=always" in c for c in plan.commands)
    start = next(c for c in plan.commands if "setsid qemu-system" in c)
    assert "id=config,file=" in start and "readonly=on" in start and "mvm.config=vdb" in start
    assert "mvm.secrets" not in start


BAD = [
    ({"env": {"1X": "a"}}, "env.1X"),
    ({"env": {"A B": "a"}}, "env.A B"),
    ({"env": {"X": {"nested": 1}}}, "env.X"),
    ({"env": ["X=1"]}, "env"),
    ({"user": "root; reboot"}, "user"),
    ({"user": "Root"}, "user"),
    ({"workdir": "relative"}, "workdir"),
    ({"command": "unterminated 'quote"}, "command"),
    ({"command": [["nested"]]}, "command"),
    ({"restart": "sometimes"}, "restart"),
    ({"files": [{"path": "../etc/passwd", "content": "x"}]}, "files[0].path"),
    ({"files": [{"path": "/abs", "content": "x"}]}, "files[0].path"),
    ({"files": [{"path": ".hidden", "content": "x"}]}, "files[0].path"),
    ({"files": [{"path": "a", "content": "x", "src": "/etc/hosts"}]}, "files[0]"),
    ({"files": [{"path": "a"}]}, "files[0]"),
    ({"files": [{"path": "a", "content": "x", "mode": "u+rw"}]}, "files[0].mode"),
    ({"files": [{"path": "a", "content": "x\x00"}]}, "files[0].content"),
    ({"files": [{"path": "a", "content": "x"}, {"path": "a", "content": "y"}]}, "files"),
    ({"files": [{"path": "a", "content": "x"}, {"path": "a/b", "content": "y"}]}, "files"),
    ({"files": [{"path": "a", "content": "x", "owner": "root"}]}, "files[0].owner"),
    ({"secrets": [{"path": "k", "src": "relative"}]}, "secrets[0].src"),
    ({"files": "app.conf"}, "files"),
]


@pytest.mark.parametrize("options,field", BAD, ids=[f for _o, f in BAD])
def test_bad_workload_options_are_refused_naming_the_field(options: dict, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        frontends.engine("vm", dict(BASE, **options), frontends.Recording(_running()))
    assert caught.value.field == field


def test_content_may_hold_newlines_and_tabs_but_no_other_field_may() -> None:
    w = workload.options({"files": [{"path": "a.conf", "content": "a=1\n\tb=2\n", "mode": 0o640}]})
    assert w.files[0].content == "a=1\n\tb=2\n" and w.files[0].mode == "0640"  # a YAML 0640 arrives as 416
    with pytest.raises(SpecError) as caught:
        frontends.engine("vm", dict(BASE, env={"X": "a\nb"}), frontends.Recording(_running()))
    assert caught.value.field == "env.X"


MAC = HOSTS["macos-26-arm64"] + image_lines("default", "0123456789abcdef")
FC = HOSTS["linux-x86_64-kvm-firecracker"] + image_lines("default", "0123456789abcdef")
REFUSED = [
    ("apple-container", MAC, {"command": "true"},
     "command: backend apple-container cannot do workload; use one of qemu, firecracker, docker"),
    ("apple-container", MAC, {"volumes": [{"name": "v", "mount": "/v"}]},
     "volumes: backend apple-container cannot do volumes; use one of qemu, firecracker, docker"),
    ("firecracker", FC, {"disk_size": "1G"}, "disk_size: backend firecracker cannot do disks; use one of qemu"),
    ("docker", FC, {"disk_size": "1G"}, "disk_size: backend docker cannot do disks; use one of qemu"),
]


@pytest.mark.parametrize("backend,host,options,message", REFUSED, ids=[str(i) for i in range(len(REFUSED))])
def test_a_backend_without_workloads_refuses_before_anything_runs(backend: str, host: str, options: dict,
                                                                  message: str) -> None:
    with pytest.raises(MvmError) as caught:
        frontends.engine("vm", dict(BASE, backend=backend, **options), frontends.Recording(host))
    assert str(caught.value) == message


def test_secrets_in_a_vms_entry_are_refused() -> None:
    with pytest.raises(SpecError) as caught:
        frontends.engine("vms", {"vms": [{"name": "a", "image": "default", "secrets": [{"path": "k", "content": "v"}]}]},
                         frontends.Recording(_running()))
    assert caught.value.field == "vms[0].secrets"




VOLUME_BAD = [
    ({"volumes": [{"name": "data", "mount": "data"}]}, "volumes[0].mount"),
    ({"volumes": [{"name": "data", "mount": "/proc/x"}]}, "volumes[0].mount"),
    ({"volumes": [{"name": "data", "mount": "/mvm"}]}, "volumes[0].mount"),
    ({"volumes": [{"name": "data", "mount": "/"}]}, "volumes[0].mount"),
    ({"volumes": [{"name": "data", "mount": "/a,b"}]}, "volumes[0].mount"),
    ({"volumes": [{"name": "data", "mount": "/a:b"}]}, "volumes[0].mount"),
    ({"volumes": [{"name": "data", "mount": "/a/../etc"}]}, "volumes[0].mount"),
    ({"volumes": [{"name": "../x", "mount": "/data"}]}, "volumes[0].name"),
    ({"volumes": [{"name": "data", "mount": "/data", "size": "1T0"}]}, "volumes[0].size"),
    ({"volumes": [{"name": "data", "mount": "/data", "ro": True}]}, "volumes[0].ro"),
    ({"volumes": [{"name": "d", "mount": "/a"}, {"name": "d", "mount": "/b"}]}, "volumes"),
    ({"volumes": [{"name": "d", "mount": "/a"}, {"name": "e", "mount": "/a/"}]}, "volumes"),
    ({"disk_size": "8M"}, "disk_size"),
]


@pytest.mark.parametrize("options,field", VOLUME_BAD, ids=[str(i) for i in range(len(VOLUME_BAD))])
def test_bad_volumes_are_refused_naming_the_field(options: dict, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        frontends.engine("vm", dict(BASE, **options), frontends.Recording(_running()))
    assert caught.value.field == field


def test_volumes_and_disks_are_attached_in_order_and_named_to_the_init() -> None:
    params = dict(BASE, command="true", secrets=[{"path": "k", "content": "v"}],
                  volumes=[{"name": "pg", "mount": "/var/lib/pg", "size": "2G"}, {"name": "logs", "mount": "/logs"}])
    plan = frontends.engine("vm", params, frontends.Recording(_running()))
    start = next(c for c in plan.commands if "setsid qemu-system" in c)
    order = [w.split("id=")[1].split(",")[0] for w in start.split() if w.startswith("id=")]
    assert order == ["root", "config", "secrets", "vol0", "vol1"]
    assert "mvm.config=vdb mvm.secrets=vdc mvm.volumes=vdd:/var/lib/pg,vde:/logs" in start
    assert "id=vol0,file=/srv/mvm/volumes/pg.ext4,format=raw,if=none " in start  # read-write
    assert "id=secrets,file=/srv/mvm/vms/web/secrets.ext4,format=raw,if=none,readonly=on " in start
    assert [s.description for s in plan.steps if s.description.startswith("create volume")] == [
        "create volume pg (2048 MiB)", "create volume logs (1024 MiB)"]


def test_a_volume_of_another_vm_is_refused() -> None:
    from tests.support.probes import applied, vm_lines

    other = vm_lines("db", applied("db", image_id="0123456789abcdef", volumes=[{"name": "pg", "size_mib": 64,
                                                                                 "mount": "/d"}]), 4343)
    with pytest.raises(SpecError) as caught:
        frontends.engine("vm", dict(BASE, volumes=[{"name": "pg", "mount": "/d"}]),
                         frontends.Recording(_running() + other))
    assert caught.value.field == "volumes[0].name" and "attached to VM db" in str(caught.value)


# Each workload and storage option, alone: the first plan changes the VM, the same plan on the host it leaves
# changes nothing, through the engine, the Ansible module (check mode) and the pyinfra operation alike.
OPTIONS = [
    {"command": ["sleep", "1"]}, {"command": "sleep 1"}, {"entrypoint": ["/bin/sh", "-c"], "command": ["true"]},
    {"workdir": "/tmp", "command": "true"}, {"user": "nobody", "command": "true"}, {"user": "1000:1000", "command": "true"},
    {"env": {"A": "1", "B": "two words"}}, {"files": [{"path": "a/b.conf", "content": "x=1\n", "mode": "0640"}]},
    {"secrets": [{"path": "token", "content": "s3"}]}, {"restart": "always", "command": "true"},
    {"volumes": [{"name": "data", "mount": "/data", "size": "64M"}]}, {"disk_size": "128M"},
    {"autostart": True},
]


@pytest.mark.parametrize("options", OPTIONS, ids=[",".join(sorted(o)) + str(i) for i, o in enumerate(OPTIONS)])
def test_each_option_is_idempotent_three_ways(options: dict) -> None:
    from tests.support.probes import vm_lines

    facts = _running() + "host\tpid1\tsystemd\n"
    first = frontends.engine("vm", dict(BASE, **options), frontends.Recording(facts))
    assert first.steps and first.steps[0].description.startswith("stop VM web to apply: ")
    done = facts.replace(vm_lines("web", _applied_of(facts), 4242), vm_lines("web", first.after["spec"], 4242))
    assert done != facts
    if "volumes" in options:
        done += "volume\tdata\t67108864\n"
    assert frontends.three_ways("vm", dict(BASE, **options), done) == []


def _applied_of(facts: str) -> dict:
    import json

    line = next(ln for ln in facts.splitlines() if ln.startswith("vm\tweb\tspec\t"))
    return json.loads(line.split("\t", 3)[3])


def test_an_image_that_cannot_be_read_fails_with_the_tools_message() -> None:
    """The paths probe's `ocierr` line (skopeo's own words) becomes a refusal naming `oci`, before any step."""
    from ansible_collections.mvm.microvm.plugins.module_utils import oci, probe

    ref = "docker://127.0.0.1:5000/nope:1"
    entry = oci.probe_entry(ref, False)
    message = 'time="x" level=fatal msg="reading manifest 1 in 127.0.0.1:5000/nope: manifest unknown"'
    shas = probe.parse_paths("ocierr\t%s\t%s\n" % (entry, message))
    with pytest.raises(SpecError) as caught:
        frontends.engine("image", {"name": "app", "oci": ref, "tls_verify": False},
                         frontends.Recording(_running(), shas))
    assert caught.value.field == "oci"
    assert str(caught.value) == "oci: cannot read image %s: %s" % (ref, message)


def test_pyinfra_uploads_a_secret_into_a_private_directory_and_never_prints_it() -> None:
    params = dict(BASE, command="true", secrets=[{"path": "token", "content": "hunter2"}])
    got, _fake = frontends.pyinfra("vm", params, frontends.Recording(_running()))
    assert not any("hunter2" in c for c in got)
    uploads = [c for c in got if c.startswith("FileUploadCommand(")]
    assert len(uploads) == 1 and "/dev/shm/mvm-in-" in uploads[0]
    staging = uploads[0].split(", ")[1].rstrip(")").rsplit("/", 1)[0]
    made = got.index("mkdir -m 0700 " + staging)
    read = next(c for c in got if c.endswith("< %s/in; rc=$?; rm -rf %s; exit $rc" % (staging, staging)))
    assert made < got.index(uploads[0]) < got.index(read)


def test_a_staging_token_is_checked() -> None:
    from ansible_collections.mvm.microvm.plugins.module_utils.shell import Step, staged_input

    with pytest.raises(ValueError):
        staged_input(Step("x", "true", "data"), "../../etc")
