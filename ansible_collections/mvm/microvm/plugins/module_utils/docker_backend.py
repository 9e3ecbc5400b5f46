# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The docker backend: the image's rootfs imported as a tagged image, a labelled container per VM.

The container runs the same /init as a microVM (as PID 1, with the kernel arguments in $MVM_ARGS).
Labels carry everything mvm needs to list and compare its own containers: mvm.managed, mvm.name,
mvm.state_root, mvm.spec (the applied spec) - so no state directory is needed.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import json
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import validate, vm_steps, volume, workload
from ansible_collections.mvm.microvm.plugins.module_utils.driver import ContainerDriver
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.guest import READY_MARKER
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, join, quote

MANAGED = "mvm.managed=true"


def container(name: str) -> str:
    return "mvm-" + name


def image_tag(applied: Mapping[str, Any]) -> str:
    return "mvm/%s:%s" % (applied.get("image") or "rootfs", applied.get("image_id") or "latest")


def guest_args(applied: Mapping[str, Any]) -> str:
    """What a VM reads from its kernel command line, for a container (volumes are bind mounts: no device)."""
    mounts = [":" + v["mount"] for v in applied.get("volumes") or []]
    return vm_steps.guest_args(applied, "", "mvm.volumes=" + ",".join(mounts) if mounts else "")


def import_command(applied: Mapping[str, Any]) -> str:
    return join(["docker", "import", "--change", 'ENTRYPOINT ["/init"]', "--change", "LABEL " + MANAGED,
                 applied["rootfs_tar"], image_tag(applied)])


def run_command(applied: Mapping[str, Any], state_root: str, stop_timeout: float, verb: str = "run") -> str:
    """`docker run -d` (or `docker create`): mvm's /init as PID 1, the VM's settings as flags and labels."""
    argv = ["docker"] + (["run", "-d"] if verb == "run" else ["create"])
    argv += ["--name", container(applied["name"]),
             "--label", MANAGED, "--label", "mvm.name=" + applied["name"],
             "--label", "mvm.state_root=" + state_root,
             "--label", "mvm.spec=" + json.dumps(applied, sort_keys=True, separators=(",", ":")),
             "--hostname", applied["hostname"], "--cpus", str(applied["cpus"]),
             "--memory", "%dm" % applied["memory_mib"], "--stop-timeout", str(int(stop_timeout)),
             "-e", "MVM_ARGS=" + guest_args(applied)]
    # autostart: the container comes back when dockerd does (or the host reboots); the workload's own restart
    # policy is mvm's init's, as in a VM.
    argv += ["--restart", "unless-stopped" if applied.get("autostart") else "no"]
    w = applied.get("workload")
    if w:
        argv += ["-w", w["workdir"]]
        for key, value in sorted(w["env"].items()):  # also in the run script; here so `docker inspect` shows it
            argv += ["-e", "%s=%s" % (key, value)]
    for v in applied.get("volumes") or []:
        argv += ["-v", "%s:%s" % (volume.path(state_root, v["name"], "dir"), v["mount"])]
    for port in applied.get("ports") or []:
        argv += ["-p", port]
    return join(argv + [image_tag(applied)]) + " >/dev/null"


def wait_ready_command(name: str, timeout: float, seen: str = "0") -> str:
    """Wait until the container's console has printed more readiness markers than `seen` (a number or $var)."""
    c = quote(container(name))
    return (
        "i=0; while [ \"$(docker logs %(c)s 2>&1 | grep -c %(m)s)\" -le %(seen)s ]; do i=$((i+1)); "
        "if [ \"$(docker inspect -f '{{.State.Running}}' %(c)s 2>/dev/null)\" != true ]; then "
        "echo 'the container exited before it was ready:' >&2; docker logs --tail 20 %(c)s >&2; exit 1; fi; "
        "if [ $i -gt %(ticks)d ]; then echo 'no readiness marker after %(t)gs' >&2; "
        "docker logs --tail 20 %(c)s >&2; exit 1; fi; sleep 0.1; done"
    ) % {"c": c, "m": READY_MARKER, "seen": seen, "ticks": int(timeout * 10), "t": timeout}


def remove_command(name: str) -> str:
    return "docker rm -f %s >/dev/null" % quote(container(name))


def drop_image_command(tag: str) -> str:
    """Remove an image tag of ours once no container uses it."""
    return "if [ -z \"$(docker ps -aq --filter ancestor=%s)\" ]; then docker rmi %s >/dev/null; fi" % (
        quote(tag), quote(tag))


def plan_container(plan: Plan, spec: Any, facts: Mapping[str, Any], applied: Mapping[str, Any],
                   current: Optional[Mapping[str, Any]], changes: Mapping[str, Any]) -> Plan:
    """Steps for running / paused / stopped of a docker VM (absent: see remove_steps)."""
    if not applied.get("rootfs_tar"):
        raise SpecError("image", "the docker backend imports an image's rootfs.tar: give image: NAME of an image "
                                 "built by mvm.microvm.rootfs (explicit kernel/rootfs paths are for VM backends)")
    root = facts["state_root"]
    tag = image_tag(applied)
    name = spec.name
    state = current["state"] if current else "absent"
    plan.result["console_log"] = "docker logs %s" % container(name)
    plan.result["dir"] = None
    if current and changes:
        plan.add("remove container %s to apply: %s" % (container(name), ", ".join(sorted(changes))),
                 remove_command(name))
        old = image_tag(current["applied"] or {})
        if old != tag:
            plan.add("drop image %s if unused" % old, drop_image_command(old))
        state = "absent"
    if state == "absent":
        if tag not in facts["docker"].get("images", []):
            plan.add("import image %s" % tag, import_command(applied))
    if state == "absent":
        if spec.volumes and ":" in root:
            raise SpecError("state_root", "a container's volumes are bind-mounted with -v SRC:DST, which a ':' in "
                                          "the state root would split; got %r" % root)
        for a in spec.volumes:
            volume.ensure_steps(plan, facts, a.name, a.size_mib, "dir")
    if state == "absent" and applied.get("workload"):
        # The workload's files go in before the first start: create, copy, then start as a stopped one is.
        plan.add("create container %s" % container(name), run_command(applied, root, spec.stop_timeout, "create"))
        plan.add("copy the workload's files into %s" % container(name), "base64 -d | docker cp - %s:/mvm" % quote(
            container(name)), stdin=workload.container_tar(spec.workload, applied["workload"]))
        for command in workload.container_copies(spec.workload, container(name)):
            plan.add("copy a host file into %s" % container(name), command)
        state = "stopped"
        if spec.state == "stopped":
            return plan
    if spec.state in ("running", "paused"):
        if state == "absent":
            plan.add("run container %s" % container(name), run_command(applied, root, spec.stop_timeout))
            plan.wait("wait for %s to be ready (%gs)" % (name, spec.boot_timeout),
                      wait_ready_command(name, spec.boot_timeout))
        elif state == "stopped":
            seen = "$(docker logs %s 2>&1 | grep -c %s)" % (quote(container(name)), READY_MARKER)
            plan.add("start container %s" % container(name), "n=%s; docker start %s >/dev/null && %s" % (
                seen, quote(container(name)), wait_ready_command(name, spec.boot_timeout, "$n")))
        if state in ("absent", "stopped"):
            vm_steps.wait_healthy_steps(plan, spec, applied, "docker logs --tail 200 %s" % quote(container(name)))
        if state == "paused" and spec.state == "running":
            plan.add("unpause container %s" % container(name), "docker unpause %s >/dev/null" % quote(container(name)))
        if spec.state == "paused" and state != "paused":
            plan.add("pause container %s" % container(name), "docker pause %s >/dev/null" % quote(container(name)))
        if current and state in ("running", "paused"):
            plan.result["pid"] = current["pid"]
    elif spec.state == "stopped":
        if state == "absent":
            plan.add("create container %s" % container(name), run_command(applied, root, spec.stop_timeout, "create"))
        elif state in ("running", "paused"):
            if state == "paused":
                plan.add("unpause container %s" % container(name), "docker unpause %s >/dev/null" % quote(container(name)))
            plan.add("stop container %s" % container(name), "docker stop -t %d %s >/dev/null" % (
                int(spec.stop_timeout), quote(container(name))))
    return plan


def remove_steps(plan: Plan, current: Mapping[str, Any]) -> None:
    plan.add("remove container %s" % container(current["name"]), remove_command(current["name"]))
    plan.add("drop image %s if unused" % image_tag(current["applied"] or {}),
             drop_image_command(image_tag(current["applied"] or {})))


# The Engine API's filter of mvm's containers and images (label mvm.managed=true), URL-encoded JSON; the state root's
# label is compared in parse_api (a path would need encoding in the shell).
API_FILTERS = "%7B%22label%22%3A%5B%22mvm.managed%3Dtrue%22%5D%7D"
# curl writes each answer's URL after its body: each body becomes one `dapi KIND BODY` record (KIND: version,
# containers, images, or inspect for /containers/ID/json).
API_AWK = (r'/^http:\/\/docker\//{k=$0; sub(/^http:\/\/docker\//, "", k); if (k ~ /^containers\/[0-9a-f]+\/json$/) '
           r'k="inspect"; else sub(/[?\/].*$/, "", k); print "dapi\t" k "\t" b; b=""; next} {b=b $0}')


def parse_api(lines: List[List[str]], state_root: str,
              warnings: List[str]) -> Tuple[str, List[Tuple[str, str, str, str, str]], List[str]]:
    """The Engine API's answers (see probe_script) as the CLI's records give them: the server's version, each of
    this state root's containers as (name, status, pid, id, spec label), the images' repo:tag."""
    from ansible_collections.mvm.microvm.plugins.module_utils.probe import json_or_none

    answers = {}  # type: Dict[str, Any]
    pids = {}  # type: Dict[str, str]
    for kind, body in lines:
        doc = json_or_none(body, warnings, "the Docker Engine API's %s answer" % kind) if body else None
        if kind == "inspect" and isinstance(doc, dict):
            pids[str(doc.get("Id"))] = str((doc.get("State") or {}).get("Pid") or 0)
        elif kind in ("version", "containers", "images"):
            answers[kind] = doc
    version = answers.get("version")
    server = str(version.get("Version") or "") if isinstance(version, dict) else ""
    listed = answers.get("containers") or []  # type: Any
    tagged = answers.get("images") or []  # type: Any
    listed, tagged = (x if isinstance(x, list) else [] for x in (listed, tagged))
    found = []
    for item in listed:
        labels = (item.get("Labels") or {}) if isinstance(item, dict) else {}
        if labels.get("mvm.state_root") != state_root or not labels.get("mvm.name"):
            continue
        ident = str(item.get("Id"))
        found.append((str(labels["mvm.name"]), str(item.get("State") or ""), pids.get(ident, "0"), ident,
                      str(labels.get("mvm.spec") or "")))
    images = [tag for item in tagged if isinstance(item, dict) for tag in (item.get("RepoTags") or ["<none>:<none>"])]
    return server, sorted(found), images


class DockerDriver(ContainerDriver):
    """A labelled container per VM, running the image's rootfs with mvm's /init as PID 1."""

    name = "docker"
    priority = 3
    capabilities = {"snapshots": False, "pause": True, "guest_channel": None, "tap": False, "ports": True,
                    "workload": True, "disks": False, "volumes": True, "autostart": True}
    install_hint = "a reachable Docker daemon (install docker and start dockerd)"
    needs = ("docker daemon", "image tools")
    artifact = "rootfs_tar"
    accel = "container"
    probe_tools = ("docker",)
    probe_versions = (("docker", "--version"),)
    # The daemon is asked only where one can answer. With no DOCKER_HOST, context or config naming another daemon,
    # that is the default socket: absent, no docker process runs; present, one curl asks the Engine API for the
    # version, mvm's containers and images at once and a second one inspects those containers (their pids), instead
    # of four docker processes (~15 ms each). Elsewhere the docker CLI is asked, as the steps are run.
    probe_script = r"""if command -v docker >/dev/null 2>&1; then
  S=/var/run/docker.sock; c=${DOCKER_CONFIG:-$HOME/.docker}
  if [ -n "$DOCKER_HOST$DOCKER_CONTEXT" ]; then S=cli  # a context is current only where one was made
  elif [ -d "$c/contexts/meta" ] && grep -qs '"currentContext"' "$c/config.json"; then S=cli
  elif [ ! -S "$S" ]; then S=; elif ! command -v curl >/dev/null 2>&1; then S=cli; fi
  if [ "$S" = cli ]; then
    ds=$($T docker version --format '{{.Server.Version}}' 2>/dev/null | head -n 1); t docker_server "$ds"
    if [ -n "$ds" ]; then
      f='{{index .Config.Labels "mvm.name"}}{{"\t"}}{{.State.Status}}{{"\t"}}{{.State.Pid}}{{"\t"}}{{.Id}}'
      f="$f"'{{"\t"}}{{index .Config.Labels "mvm.spec"}}'
      $T docker ps -aq --filter label=mvm.managed=true --filter "label=mvm.state_root=$r" 2>/dev/null \
        | xargs -r $T docker inspect --format "$f" 2>/dev/null \
        | while IFS= read -r l; do printf 'dvm\t%s\n' "$l"; done
      $T docker images --filter label=mvm.managed=true --format '{{.Repository}}:{{.Tag}}' 2>/dev/null \
        | while IFS= read -r l; do printf 'dimg\t%s\n' "$l"; done
    fi
  elif [ -n "$S" ]; then
    A="curl -s --max-time 5 --unix-socket $S -w \n%{url_effective}\n"
    F=@FILTERS@
    l=$($A http://docker/version "http://docker/containers/json?all=1&filters=$F" "http://docker/images/json?filters=$F" \
      2>/dev/null)
    printf '%s\n' "$l" | awk @API@
    set -- $(printf '%s\n' "$l" | grep -o '"Id":"[0-9a-f]\{64\}"' | cut -c7-70)
    for i in "$@"; do shift; set -- "$@" "http://docker/containers/$i/json"; done
    [ $# -gt 0 ] && $A "$@" 2>/dev/null | awk @API@
    set --
  fi
fi
""".replace("@FILTERS@", API_FILTERS).replace("@API@", quote(API_AWK))
    probe_records = {"dvm": 6, "dimg": 2, "dapi": 3}

    def parse_probe(self, records: Any, facts: Dict[str, Any], warnings: List[str]) -> None:
        from ansible_collections.mvm.microvm.plugins.module_utils.probe import json_or_none, version

        api = records.lines("dapi")
        if api:
            server, found, images = parse_api(api, facts["state_root"], warnings)
        else:
            server = records.one("docker_server")
            found = [tuple(parts) for parts in records.lines("dvm")]
            images = [parts[0] for parts in records.lines("dimg")]
        facts["docker"] = {"client": facts["tools"]["docker"]["present"], "daemon": bool(server),
                           "server_version": version(server) if server else None, "images": sorted(images)}
        for name, status, pid_text, ident, text in found:
            try:  # a label anyone with the daemon can set: a name mvm could not have given is not one of its VMs
                validate.name("mvm.name", name)
            except SpecError:
                warnings.append("container %s has an mvm.name label that is not a VM name %r; ignored" % (ident[:12], name[:80]))
                continue
            spec = json_or_none(text, warnings, "mvm.spec label of container mvm-%s" % name) if text else None
            facts["vms"][name] = {
                "name": name,
                "dir": None,
                "pid": int(pid_text) if pid_text.isdigit() and int(pid_text) > 0 else None,
                "state": {"running": "running", "paused": "paused"}.get(status, "stopped"),
                "vmm_status": status,
                "backend": "docker",
                "applied": spec if isinstance(spec, dict) else None,
                "qmp_socket": None,
                "container": "mvm-" + name,
                "container_id": ident,
            }

    def why_not(self, facts: Mapping[str, Any]) -> List[str]:
        return [w for w in (
            "" if facts["tools"].get("docker", {}).get("present") else "the docker client is not installed",
            "" if facts["docker"]["daemon"] else "no Docker daemon answers",
        ) if w]

    # The steps, from this module's functions above.
    plan_container = staticmethod(plan_container)
    remove_steps = staticmethod(remove_steps)


DRIVER = DockerDriver()
