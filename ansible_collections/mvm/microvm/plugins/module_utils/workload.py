# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The user's software in a VM: command, entrypoint, env, working directory, user, restart policy, config files
and secrets; what the VM records of them and the disks that carry them into the guest.

The image's OCI config gives the defaults (as `docker run` takes them): `entrypoint` replaces the image's
Entrypoint (and drops its Cmd), `command` replaces Cmd, `env` is merged over the image's Env. mvm's /init (see
guest) reads the result from the config disk, at `/mvm/config/.mvm`: `run` (a script: exports, cd, exec),
`user` and `restart`. `files` are on the same read-only disk under /mvm/config; `secrets` on a disk of their own
that the guest copies into a 0700 tmpfs at /mvm/secrets, each file 0600 and owned by the workload's user.

A secret's content is never in a command's text, a result, a diff or the applied spec: it travels to the host
on a step's standard input, and the applied spec keeps a slow salted hash of it (a change is still seen).
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import base64
import hashlib
import io
import re
import shlex
import tarfile
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import guest, validate
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, join, quote, write_file

RESTART = ("no", "on-failure", "always")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OPTION_NAMES = ("command", "entrypoint", "workdir", "user", "env", "files", "secrets", "restart", "health")
# A health check's timing, in seconds, as docker's HEALTHCHECK has it; mvm's init runs it in the guest (see guest).
HEALTH_DEFAULTS = {"command": None, "interval": 10, "timeout": 5, "retries": 3, "start_period": 0}
HEALTH_STATES = ("starting", "healthy", "unhealthy")
FILE_OPTIONS = ("files", "secrets")
CONFIG_DISK = "config.ext4"
SECRETS_DISK = "secrets.ext4"
CONFIG_LABEL = "mvm-config"
SECRETS_LABEL = "mvm-secrets"
MAX_FILES = 64
MAX_TOTAL = 1024 * 1024  # bytes of files (or of secrets) per VM: a config disk, not a data disk
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_USER = re.compile(r"(?:[a-z_][a-z0-9_-]{0,31}|[0-9]{1,10}(?::[0-9]{1,10})?)", re.ASCII)
_REL_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*", re.ASCII)
_MODE = re.compile(r"0?[0-7]{3}", re.ASCII)
_HASH_ROUNDS = 20000  # per secret; a converge hashes each once

_FILE_SPEC = dict(path=dict(type="str", required=True), content=dict(type="str"), src=dict(type="path"),
                  mode=dict(type="raw", default="0644"))
# The Ansible argument spec of the workload and storage options (doc fragment mvm.microvm.workload documents it;
# volumes and disk_size are volume.py's and vm_steps' to apply).
ARGSPEC = dict(
    command=dict(type="raw"),
    entrypoint=dict(type="raw"),
    workdir=dict(type="str"),
    user=dict(type="str"),
    env=dict(type="dict"),
    files=dict(type="list", elements="dict", options=_FILE_SPEC),
    secrets=dict(type="list", elements="dict", no_log=True,
                 options=dict(_FILE_SPEC, content=dict(type="str", no_log=True), mode=dict(type="raw", default="0600"))),
    restart=dict(type="str", default="no", choices=list(RESTART)),
    volumes=dict(type="list", elements="dict", options=dict(name=dict(type="str", required=True),
                                                            mount=dict(type="str", required=True),
                                                            size=dict(type="raw", default=1024))),
    disk_size=dict(type="raw"),
    autostart=dict(type="bool", default=False),
    health=dict(type="dict", options=dict(command=dict(type="raw", required=True), interval=dict(type="float", default=10),
                                          timeout=dict(type="float", default=5), retries=dict(type="int", default=3),
                                          start_period=dict(type="float", default=0))),
    wait_healthy=dict(type="bool", default=True),
)


@dataclass(frozen=True)
class File:
    """A config file or a secret: its path under /mvm/config (or /mvm/secrets), its content or a host path."""

    path: str
    mode: str
    content: Optional[str] = None
    src: Optional[str] = None


@dataclass(frozen=True)
class Health:
    """A command whose exit status says whether the workload serves: 0 healthy, anything else a failure; `retries`
    failures in a row (not counting those within `start_period` of boot) make the VM unhealthy."""

    argv: Tuple[str, ...]
    interval: float
    timeout: float
    retries: int
    start_period: float

    def record(self) -> Dict[str, Any]:
        return {"argv": list(self.argv), "interval": self.interval, "timeout": self.timeout, "retries": self.retries,
                "start_period": self.start_period}


@dataclass(frozen=True)
class Workload:
    """What the user asked for; None means 'the image's own'."""

    command: Optional[Tuple[str, ...]] = None
    entrypoint: Optional[Tuple[str, ...]] = None
    workdir: Optional[str] = None
    user: Optional[str] = None
    env: Tuple[Tuple[str, str], ...] = ()
    files: Tuple[File, ...] = ()
    secrets: Tuple[File, ...] = ()
    restart: str = "no"
    health: Optional["Health"] = None

    @property
    def given(self) -> bool:
        return self != Workload()


def options(p: Mapping[str, Any]) -> Workload:
    """The workload options of a VM's parameters, validated (each error names its field)."""
    files = _files("files", p.get("files"), "0644")
    secrets = _files("secrets", p.get("secrets"), "0600")
    return Workload(
        command=_argv("command", p.get("command")),
        entrypoint=_argv("entrypoint", p.get("entrypoint")),
        workdir=validate.abs_path("workdir", p.get("workdir"), optional=True),
        user=_user(p.get("user")),
        env=_env("env", p.get("env")),
        files=files,
        secrets=secrets,
        restart=validate.choice("restart", p.get("restart") or "no", RESTART),
        health=_health(p.get("health")),
    )


def _health(value: Any) -> Optional[Health]:
    """A string command runs with the guest's shell (docker's CMD-SHELL); a list is the argv (CMD)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise SpecError("health", "expected a dictionary with command (and interval, timeout, retries, start_period); "
                                  "got %r" % (value,))
    p = validate.options(value, HEALTH_DEFAULTS, "health.")
    command = p["command"]
    if isinstance(command, str):
        text = validate.text_line("health.command", command, validate.MAX_TEXT)
        argv = ("/mvm/bin/sh", "-c", text) if text else ()  # type: Tuple[str, ...]
    else:
        argv = _argv("health.command", command) or ()
    if not argv or not argv[0]:
        raise SpecError("health.command", "expected a command (a string for the shell, or a list of arguments)")
    return Health(argv=argv, interval=validate.number("health.interval", p["interval"], 1, 86400),
                  timeout=validate.number("health.timeout", p["timeout"], 1, 3600),
                  retries=validate.integer("health.retries", p["retries"], 1, 100),
                  start_period=validate.number("health.start_period", p["start_period"], 0, 86400))


def _argv(field: str, value: Any) -> Optional[Tuple[str, ...]]:
    """A list of arguments, or one string split as a POSIX shell would (as community.docker does)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise SpecError(field, "cannot split %r into arguments: %s" % (value, exc)) from None
    elif isinstance(value, (list, tuple)):
        words = [str(v) if isinstance(v, (str, int, float)) and not isinstance(v, bool) else _bad_word(field, v)
                 for v in value]
    else:
        raise SpecError(field, "expected a list of arguments or a string; got %r" % (value,))
    if len(words) > 256 or sum(len(w) for w in words) > validate.MAX_TEXT:
        raise SpecError(field, "expected at most 256 arguments and %d characters in all" % validate.MAX_TEXT)
    return tuple(words)


def _bad_word(field: str, value: Any) -> str:
    raise SpecError(field, "expected each argument to be a string; got %r" % (value,))


def _user(value: Any) -> Optional[str]:
    if value is None:
        return None
    text = str(value)
    if isinstance(value, bool) or not _USER.fullmatch(text):
        raise SpecError("user", "expected a user name from the image's /etc/passwd (lower case, up to 32 characters) "
                                "or a uid[:gid]; got %r" % (value,))
    return text


def _env(field: str, value: Any) -> Tuple[Tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise SpecError(field, "expected a dictionary of NAME: value; got %r" % (value,))
    found = []
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_NAME.fullmatch(key) or key == "MVM_ARGS":
            raise SpecError("%s.%s" % (field, key),
                            "expected a variable name (letters, digits, '_', not starting with a digit; "
                            "not MVM_ARGS, which mvm's init reads); got %r" % (key,))
        if item is None or isinstance(item, (dict, list)):
            raise SpecError("%s.%s" % (field, key), "expected a string, number or boolean; got %r" % (item,))
        found.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
    return tuple(sorted(found))


def _files(field: str, value: Any, default_mode: str) -> Tuple[File, ...]:
    found = []  # type: List[File]
    total = 0
    for index, item in enumerate(validate.items(field, value) if value is not None else []):
        where = "%s[%d]" % (field, index)
        if not isinstance(item, Mapping):
            raise SpecError(where, "expected a dictionary with path and content (or src); got %r" % (item,))
        p = validate.options(item, {"path": None, "content": None, "src": None, "mode": default_mode}, where + ".",
                             file_options=("content",))
        path = "" if p["path"] is None else str(p["path"])
        if not _REL_PATH.fullmatch(path) or len(path) > 255:
            raise SpecError(where + ".path", "expected a relative path of letters, digits, '.', '_' and '-' (no '..', "
                                             "no leading '.' or '/'); got %r" % (p["path"],))
        if (p["content"] is None) == (p["src"] is None):
            raise SpecError(where, "give exactly one of content and src")
        # A YAML 0644 arrives as the number 420: read a number as the mode it was written as.
        mode = format(p["mode"], "04o") if isinstance(p["mode"], int) and not isinstance(p["mode"], bool) \
            else str(p["mode"])
        if not _MODE.fullmatch(mode):
            raise SpecError(where + ".mode", "expected an octal mode such as '0644'; got %r" % (p["mode"],))
        content = None if p["content"] is None else str(p["content"])
        total += len(content or "")
        found.append(File(path=path, mode=mode.zfill(4), content=content,
                          src=validate.abs_path(where + ".src", p["src"], optional=True)))
    if len(found) > MAX_FILES or total > MAX_TOTAL:
        raise SpecError(field, "expected at most %d files and %d bytes in all" % (MAX_FILES, MAX_TOTAL))
    paths = [f.path for f in found]
    for path in paths:
        if any(other.startswith(path + "/") for other in paths) or paths.count(path) > 1:
            raise SpecError(field, "path %r is given twice (or as a file and a directory)" % path)
    return tuple(found)


def host_paths(w: Workload) -> List[str]:
    """Host files the workload reads (hashed by the paths probe, so an edit is a change)."""
    return [f.src for f in w.files + w.secrets if f.src]


def image_defaults(manifest: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The workload an image brings (recorded by the image build from its OCI config)."""
    found = (manifest or {}).get("workload") or {}
    return {"entrypoint": list(found.get("entrypoint") or []), "cmd": list(found.get("cmd") or []),
            "env": list(found.get("env") or []), "workdir": found.get("workdir") or "",
            "user": found.get("user") or ""}


def resolve(w: Workload, defaults: Mapping[str, Any], shas: Mapping[str, str]) -> Optional[Dict[str, Any]]:
    """What the VM runs, for the applied spec: argv, env, workdir, user, restart, and the files and secrets as
    hashes. None when there is nothing to run and nothing to carry (the VM idles, as mvm's busybox image does)."""
    entry = list(w.entrypoint) if w.entrypoint is not None else defaults["entrypoint"]
    if w.command is not None:
        cmd = list(w.command)
    else:
        cmd = [] if w.entrypoint is not None else defaults["cmd"]
    env = {"PATH": DEFAULT_PATH}  # as Docker gives a container whose image sets none (a Debian tree, busybox)
    env.update(dict(e.split("=", 1) for e in defaults["env"] if "=" in e))
    env.update(dict(w.env))
    argv = entry + cmd
    if not argv and not w.files and not w.secrets and not w.env and not w.health:
        return None
    for f in w.files + w.secrets:
        if f.src and f.src not in shas:
            raise SpecError("secrets" if f in w.secrets else "files", "file not found on the host: %s" % f.src)
    found = {
        "argv": argv,
        "env": env,
        "workdir": w.workdir or defaults["workdir"] or "/",
        "user": w.user or defaults["user"] or "root",
        "restart": w.restart,
        "files": {f.path: {"mode": f.mode, "sha256": _sha(f, shas)} for f in w.files},
        "secrets": {f.path: {"mode": f.mode, "hash": _secret_hash(f, shas)} for f in w.secrets},
    }
    if w.health:  # absent without one: the records of VMs made before health existed stay as they were
        found["health"] = w.health.record()
    return found


def _sha(f: File, shas: Mapping[str, str]) -> str:
    return shas[f.src] if f.src else hashlib.sha256((f.content or "").encode()).hexdigest()


def _secret_hash(f: File, shas: Mapping[str, str]) -> str:
    """Salted and slow, so the applied spec (0600, but copied into snapshots and results) does not give a short
    secret away to a dictionary; equal secrets still hash equal, so a change is seen."""
    data = (shas[f.src] if f.src else f.content or "").encode()
    return "pbkdf2-sha256:" + hashlib.pbkdf2_hmac("sha256", data, ("mvm.secret:" + f.path).encode(),
                                                  _HASH_ROUNDS).hex()[:32]


def _script(what: str, resolved: Mapping[str, Any], argv: Sequence[str]) -> str:
    """A script /init runs as the workload's user: the environment, the working directory, then exec."""
    lines = ["#!/mvm/bin/sh", "# written by mvm: the %s of this VM" % what]
    lines += ["export %s=%s" % (k, quote(v)) for k, v in sorted(resolved["env"].items())]
    lines.append("cd %s || exit 127" % quote(resolved["workdir"]))
    lines.append("exec %s" % join(argv) if argv else "exit 0")
    return "\n".join(lines) + "\n"


def run_script(resolved: Mapping[str, Any]) -> str:
    return _script("workload", resolved, resolved["argv"])


def health_script(resolved: Mapping[str, Any]) -> str:
    return _script("health check", resolved, resolved["health"]["argv"])


def disk_paths(vm_dir: str) -> Dict[str, str]:
    return {"config": "%s/%s" % (vm_dir, CONFIG_DISK), "secrets": "%s/%s" % (vm_dir, SECRETS_DISK)}


def disk_steps(plan: Plan, w: Workload, resolved: Optional[Mapping[str, Any]], vm_dir: str) -> None:
    """(Re)make the config disk and, where there are secrets, the secrets disk, in the VM's directory (0600)."""
    disks = disk_paths(vm_dir)
    if resolved is None:
        plan.add("remove the workload disks", "rm -f %s %s" % (quote(disks["config"]), quote(disks["secrets"])))
        return
    stage = vm_dir + "/config.d"
    commands = ["rm -rf %s" % quote(stage), "mkdir -p -m 0755 %s" % quote(stage)]
    for path, content, mode in config_tree(w, resolved):
        target = "%s/%s" % (stage, path)
        commands.append("mkdir -p -m %04o %s" % (mode, quote(target)) if content is None
                        else write_file(target, content, "%04o" % mode))
    for f in w.files:
        if f.src:
            target = "%s/%s" % (stage, f.path)
            commands.append("cp %s %s && chmod %s %s" % (quote(f.src), quote(target), f.mode, quote(target)))
    size = _disk_kib(sum(len(f.content or "") for f in w.files) + 64 * 1024 * len([f for f in w.files if f.src]))
    commands.append("mkfs.ext4 -q -F -O ^has_journal -L %s -d %s %s %dk" % (
        CONFIG_LABEL, quote(stage), quote(disks["config"]), size))
    commands.append("rm -rf %s" % quote(stage))
    if not w.secrets:
        commands.append("rm -f %s" % quote(disks["secrets"]))
    plan.add("write the config disk (%d files)" % len(w.files), " && ".join(commands))
    if not w.secrets:
        return
    plan.add("write the secrets disk (%d secrets)" % len(w.secrets), _secrets_command(w.secrets, disks["secrets"]),
             stdin=_secrets_tar(w.secrets))


Entry = Tuple[str, Optional[str], int]  # path, content (None: a directory), mode


def config_tree(w: Workload, resolved: Mapping[str, Any]) -> List[Entry]:
    """The config tree mvm's init reads (see guest): `.mvm/run`, `.mvm/user`, `.mvm/restart`, and the user's files
    given by content, each after the directories it needs. One layout for every backend: a VM gets it on its
    config disk, a container under /mvm/config."""
    wdir = guest.WORKLOAD_DIR
    entries = [(wdir, None, 0o755)] + ([(wdir + "/run", run_script(resolved), 0o644)] if resolved["argv"] else [])
    entries += [(wdir + "/user", resolved["user"], 0o644), (wdir + "/restart", resolved["restart"], 0o644)]
    health = resolved.get("health")
    if health:
        timing = "%d %d %d %d\n" % (health["interval"], health["timeout"], health["retries"], health["start_period"])
        entries += [(wdir + "/health", health_script(resolved), 0o644), (wdir + "/health.conf", timing, 0o644)]
    return entries + _with_parents(w.files, 0o755)


def _with_parents(items: Sequence[File], dir_mode: int) -> List[Entry]:
    entries = []  # type: List[Entry]
    for f in items:
        parts = f.path.split("/")
        entries += [("/".join(parts[:depth]), None, dir_mode) for depth in range(1, len(parts))]
        if f.content is not None:
            entries.append((f.path, f.content, int(f.mode, 8)))
    return entries


def _tar(entries: Sequence[Entry]) -> str:
    """A tar of the entries (root's, dated 0), base64: what a step reads on its standard input."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, content, mode in entries:
            info = tarfile.TarInfo(path)
            info.mode, info.mtime = mode, 0
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                data = content.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buf.getvalue()).decode() + "\n"


def container_tar(w: Workload, resolved: Mapping[str, Any]) -> str:
    """For a container: the config tree and the secrets as one base64 tar to unpack at /mvm (`docker cp -`). Only
    content is carried: a host file (src) is copied by its own step (see container_copies)."""
    entries = [("config", None, 0o755)] + [("config/" + p, c, m) for p, c, m in config_tree(w, resolved)]
    entries += [("secrets", None, 0o700)] + [("secrets/" + p, c, m) for p, c, m in _with_parents(w.secrets, 0o700)]
    return _tar(entries)


def container_copies(w: Workload, target: str) -> List[str]:
    """`docker cp` commands for files given by host path (src), into the container `target`."""
    return ["docker cp %s %s:%s" % (quote(f.src), quote(target), quote("/mvm/%s/%s" % (prefix, f.path)))
            for prefix, items in (("config", w.files), ("secrets", w.secrets)) for f in items if f.src]


def _disk_kib(payload: int) -> int:
    return 2048 + 2 * (payload // 1024)


def _secrets_tar(secrets: Sequence[File]) -> str:
    """The secrets given by content, as a base64 tar on the step's standard input (never in its text)."""
    return _tar(_with_parents(secrets, 0o700))


def _secrets_command(secrets: Sequence[File], disk: str) -> str:
    """Unpack the secrets into a 0700 directory on the host's tmpfs (never on its disks), make the 0600 secrets
    disk from it, remove it. Secrets given as host files are copied in the same way."""
    copies = []
    for f in secrets:
        if f.src:
            target = "\"$s\"/" + quote(f.path)
            copies.append("mkdir -p \"$(dirname %s)\" && cp %s %s && chmod %s %s" % (
                target, quote(f.src), target, f.mode, target))
    size = _disk_kib(sum(len(f.content or "") for f in secrets) + 64 * 1024 * len([f for f in secrets if f.src]))
    return " && ".join([
        "s=$(mktemp -d /dev/shm/mvm-secrets.XXXXXX)",
        "trap 'rm -rf \"$s\"' EXIT",
        "base64 -d | tar -x -C \"$s\" --no-same-owner",
    ] + copies + [
        "mkfs.ext4 -q -F -O ^has_journal -L %s -d \"$s\" %s %dk" % (SECRETS_LABEL, quote(disk), size),
        "chmod 0600 %s" % quote(disk),
    ])
