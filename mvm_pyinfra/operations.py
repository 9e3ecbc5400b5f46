"""pyinfra operations for microVMs. Each one turns its arguments into an engine spec, reads the
``MvmHost`` fact, asks the engine for a plan and yields the plan's commands (or a no-op).
"""

from __future__ import annotations

import functools
import inspect
import io
import os
import uuid
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence, Tuple

from pyinfra import host, logger
from pyinfra.api import OperationError, OperationValueError, operation
from pyinfra.api.command import FileUploadCommand

from ansible_collections.mvm.microvm.plugins.module_utils import install as install_engine
from ansible_collections.mvm.microvm.plugins.module_utils import lima as lima_engine
from ansible_collections.mvm.microvm.plugins.module_utils import lock as lock_engine
from ansible_collections.mvm.microvm.plugins.module_utils import network as net_engine
from ansible_collections.mvm.microvm.plugins.module_utils import ops, probe, spec, trace
from ansible_collections.mvm.microvm.plugins.module_utils import snapshot as snap_engine
from ansible_collections.mvm.microvm.plugins.module_utils import template as template_engine
from ansible_collections.mvm.microvm.plugins.module_utils import volume as volume_engine
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError, SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, Step, staged_input
from mvm_pyinfra.facts import MvmHost, MvmHostRecords, MvmPaths

# Images that an earlier rootfs operation of this deploy will build, per host: during pyinfra's
# prepare phase they do not exist yet, and a VM operation after them must not call them missing.
_PENDING: Dict[str, Dict[str, Dict[str, Any]]] = {}


class _Look:
    """The host facts an operation took at execution, and whether it then ran nothing (see _gather_host)."""

    def __init__(self, op_hash: str, state_root: Optional[str], facts: Dict[str, Any]) -> None:
        self.op_hash, self.state_root, self.facts, self.clean = op_hash, state_root, facts, False


# The last look per host (by state and host name): an operation right after one that changed nothing plans on it.
_LOOKS: Dict[str, _Look] = {}


def _executing() -> Optional[str]:
    """The operation pyinfra is executing on this host (None while it prepares)."""
    return getattr(host, "executing_op_hash", None)


def _previous_op(op_hash: str) -> Optional[str]:
    """The operation executed on this host just before `op_hash`, in the deploy's order."""
    mine = host.state.ops.get(host, {})
    order = [h for h in host.state.get_op_order() if h in mine]
    index = order.index(op_hash) if op_hash in order else 0
    return order[index - 1] if index > 0 else None


def _gather_host(state_root: Optional[str]) -> Dict[str, Any]:
    """The host facts, probed once for a run of operations that change nothing: an mvm operation executed right
    after another that took the facts of the same state root and ran no command plans on that look (nothing ran
    on the host in between, so a new probe would see what it saw). Anything else probes again. A plan with steps
    is made again under its locks in any case (_emit)."""
    import copy

    key, here = "%s:%s" % (id(host.state), host.name), _executing()
    last = _LOOKS.pop(key, None)
    if here and last and last.clean and last.state_root == state_root and last.op_hash == _previous_op(here):
        trace.record("probe", "host (the previous operation's, which ran nothing)")
        facts = last.facts
    else:
        trace.record("probe", "host")
        facts = _probe(state_root)
    if here:
        _LOOKS[key] = _Look(here, state_root, facts)
    return copy.deepcopy(facts)


def _probe(state_root: Optional[str]) -> Dict[str, Any]:
    """The MvmHost fact. On this machine (``@local``) as this user, the QEMU guests' run state is asked over QMP
    from this process (one Python fewer on every probe); elsewhere the probe's own program asks it on the host."""
    import os

    from pyinfra.connectors.local import LocalConnector

    if isinstance(getattr(host, "connector", None), LocalConnector):
        records = host.get_fact(MvmHostRecords, state_root=state_root)
        found = probe.parse_host(records)
        if found["user"]["uid"] == os.geteuid():  # not under sudo or su: the sockets are this process's to ask
            return ops.host_report(probe.parse_host(records + probe.vmm_status_lines(records)))
    return host.get_fact(MvmHost, state_root=state_root)


def _ran_nothing() -> None:
    """The executing operation ends without a command: its look at the host stays good for the next one."""
    last = _LOOKS.get("%s:%s" % (id(host.state), host.name))
    if last and last.op_hash == _executing():
        last.clean = True


def _gather_paths(paths: Sequence[str]) -> Dict[str, str]:
    trace.record("probe", "paths")
    return host.get_fact(MvmPaths, paths=list(paths))


def _gather_in(instance: str) -> Any:
    """Fact gatherers inside a Lima instance (the probe wrapped for `limactl shell`)."""
    return (lambda root: host.get_fact(MvmHost, state_root=root, lima=instance),
            lambda paths: host.get_fact(MvmPaths, paths=list(paths), lima=instance))


def _pending() -> Dict[str, Dict[str, Any]]:
    """What the operations before this one in the deploy promised on this host (see ops.remember)."""
    return _PENDING.setdefault("%s:%s" % (id(host.state), host.name), {k: {} for k in ops.PENDING_KINDS})


def _given(**kwargs: Any) -> Dict[str, Any]:
    """Arguments the user gave; the engine fills in its defaults for the rest."""
    return {k: v for k, v in kwargs.items() if v is not None}


def _preparing() -> bool:
    """pyinfra's prepare phase (what --dry shows) iterates an operation only up to its first command."""
    from pyinfra.api.state import StateStage

    return getattr(host.state, "current_stage", None) == StateStage.Prepare


def _emit(plan: Plan, noop: str, replan: Callable[[], Plan]) -> Iterator[str]:
    """The plan's commands, for pyinfra to run one by one.

    At execution a plan that changes something takes its locks on the host first (a holder process there,
    see lock), is planned again under them, and lets them go after its last step or a failed one.
    """
    for warning in plan.warnings:
        logger.warning("%s: %s", host.name, warning)
    if not plan.steps:
        host.noop(noop)
        _ran_nothing()
        return
    if getattr(getattr(host.state, "config", None), "DIFF", False):
        _show_diff(plan)
    if _preparing():
        # So that --dry (and the confirmation prompt) show the whole plan, not one change.
        show_commands = bool(getattr(host.state, "print_input", False))  # pyinfra -vv
        for step in plan.steps:
            logger.info("    %s: will %s", host.name, step.description)
            if show_commands:
                logger.info("    %s: $ %s", host.name, step.command)
    if not plan.locks:
        for step in plan.steps:
            trace.record("step", step.description)
            yield from _step_commands(step, lambda script: script)
        return
    locks, token = list(plan.locks), uuid.uuid4().hex[:16]
    yield lock_engine.acquire_command(locks, token)
    plan = replan()
    for step in plan.steps:
        trace.record("step", step.description)
        yield from _step_commands(step, lambda script: lock_engine.releasing(script, locks, token))
    yield lock_engine.release_command(locks, token)


_DIFFED: set = set()


def _show_diff(plan: Plan) -> None:
    """With --diff, the plan's before and after (what the Ansible module's --diff shows: the applied spec, the
    image, the network...) as a unified diff of their JSON, once per operation and host however often pyinfra
    runs the operation's body (prepare, then execution)."""
    import json

    from pyinfra.operations.util.files import generate_color_diff

    diff = plan.diff()
    before, after = (json.dumps(diff[k], indent=2, sort_keys=True, default=str).splitlines() for k in ("before", "after"))
    key = (id(host.state), host.name, "\n".join(before), "\n".join(after))
    if key in _DIFFED:
        return
    _DIFFED.add(key)
    host.log("Will change (before, after):", logger.info)
    for line in generate_color_diff(before, after):
        logger.info("  %s", line)


def _step_commands(step: Step, wrap: Callable[[str], str]) -> Iterator[Any]:
    """One step as pyinfra commands. A step that reads its standard input (a secret) gets it as a file uploaded
    into a directory of its own on the host's tmpfs (mode 0700), read once and removed by the step itself:
    pyinfra has no way to feed a command's input, and the secret must not be in a command's text."""
    if not step.stdin:
        yield wrap(step.script)
        return
    prepare, upload, reading = staged_input(step, uuid.uuid4().hex[:16])
    yield wrap(prepare)
    yield FileUploadCommand(io.BytesIO(step.stdin.encode()), upload)  # a failed upload stops the deploy here
    yield wrap(reading)


def _planned(planner: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The engine's plan; its refusals as pyinfra's operation errors (bad input as OperationValueError)."""
    try:
        return planner(*args, **kwargs)
    except MvmError as exc:
        raise _plan_errors(exc) from exc


def _operation(name: str, params: Dict[str, Any]) -> "_Call":
    """The engine's operation (ops.OPERATIONS) on this host's facts and what this deploy already planned."""
    # What the operations before this one promised, as it is now: planned again under its locks, this operation
    # must not find its own promise (remembered once it is planned) and take it for the host's state.
    before = {kind: dict(found) for kind, found in _pending().items()}
    return _Call(ops.OPERATIONS[name].plan, params, _gather_host, _gather_paths, before, _gather_in)


class _Call:
    """One engine planning call, kept so the operation can plan again once it holds its locks."""

    def __init__(self, planner: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.planner, self.args, self.kwargs = planner, args, kwargs

    def __call__(self) -> Any:
        return _planned(self.planner, *self.args, **self.kwargs)

    def plan(self) -> Plan:
        return self()[1]


def _plan_errors(exc: Exception) -> Exception:
    if isinstance(exc, SpecError):
        return OperationValueError(str(exc))
    return OperationError(str(exc))


def _validated_early(to_params: Callable[..., Any], make_spec: Callable[[Any], Any]):
    """An operation whose arguments are validated when the deploy calls it.

    pyinfra runs an operation's body lazily (with -y, only at execution, after earlier operations
    ran); bad input must fail before any command reaches a host, so the spec is built eagerly too.
    """

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        op = operation()(func)
        signature = inspect.signature(func)

        renames = _argument_names(to_params)

        @functools.wraps(op)
        def call(*args: Any, **kwargs: Any) -> Any:
            own = {k: v for k, v in kwargs.items() if k in signature.parameters}
            bound = signature.bind_partial(*args, **own)
            bound.apply_defaults()
            try:
                make_spec(to_params(**bound.arguments))
            except SpecError as exc:
                error = OperationValueError(_in_own_words(exc, renames))
                error.__cause__ = exc
                _raise_in_deploy(error)
            return op(*args, **kwargs)

        call._inner = func  # type: ignore[attr-defined]
        return call

    return decorator


def _argument_names(to_params: Callable[..., Any]) -> Dict[str, str]:
    """The engine's field names the operation spells otherwise: its first argument is the engine's `name` (pyinfra
    keeps `name=` for the operation's label), `present` is the engine's `state`."""
    params = [p for p in inspect.signature(to_params).parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    named = {p.name for p in params}
    renames = {"state": "present"} if "present" in named and "state" not in named else {}
    if params and params[0].name != "present":
        renames["name"] = params[0].name
    return renames


def _in_own_words(exc: SpecError, renames: Mapping[str, str]) -> str:
    """The engine's refusal, naming the argument as the deploy wrote it (`vm: ...`, not the engine's `name: ...`)."""
    head, dot, rest = exc.field.partition(".")
    head, bracket, index = head.partition("[")
    field = renames.get(head, head) + bracket + index + dot + rest
    return field + str(exc)[len(exc.field):]


_OWN_FILES = (os.path.dirname(os.path.abspath(__file__)) + os.sep,)


def _raise_in_deploy(error: Exception) -> None:
    """Raise `error` from the deploy's own line: pyinfra names the innermost frame outside its own package as where
    an operation error is ("Operation error in deploy.py line 12"), and that would be this module. As Jinja does
    for templates, the raise runs in code compiled under the caller's file name and line, so the traceback and
    pyinfra's message point at the call the user wrote."""
    frame = inspect.currentframe()
    while frame is not None and (frame.f_code.co_filename.startswith(_OWN_FILES) or _pyinfra_file(frame.f_code.co_filename)):
        frame = frame.f_back
    if frame is None:
        raise error
    where = compile("\n" * (frame.f_lineno - 1) + "raise error", frame.f_code.co_filename, "exec")
    try:
        exec(where, {"error": error})
    finally:
        del frame


def _pyinfra_file(filename: str) -> bool:
    from pyinfra.api.util import PYINFRA_INSTALL_DIR

    return filename.startswith(PYINFRA_INSTALL_DIR)


def _image_params(image: str, present: bool, **kwargs: Any) -> Dict[str, Any]:
    return _given(name=image, state="present" if present else "absent", **kwargs)


def _present_or_state(operation: str, present: bool, state: Optional[str]) -> Optional[str]:
    """`present=False` removes, as in every operation; `state` says the rest (running, stopped...). The older
    `state="absent"` still removes, with a deprecation warning."""
    if state == "absent":
        logger.warning("mvm.%s: state='absent' is deprecated; use present=False (as every mvm operation does)", operation)
    return "absent" if not present else state


def _vm_params(vm: str, present: bool = True, state: Optional[str] = None, **kwargs: Any) -> Dict[str, Any]:
    return _given(name=vm, state=_present_or_state("vm", present, state), **kwargs)


@_validated_early(_image_params, spec.image_spec)
def rootfs(
    image: str = "default",
    present: bool = True,
    kernel: Optional[str] = None,
    initrd: Optional[str] = None,
    rootfs_size: Optional[Any] = None,
    flake: Optional[str] = None,
    state_root: Optional[str] = None,
    oci: Optional[str] = None,
    tls_verify: Optional[bool] = None,
    debian: Optional[Dict[str, Any]] = None,
    format: Optional[str] = None,
    bundle: Optional[Dict[str, Any]] = None,
    export: Optional[Dict[str, Any]] = None,
):
    """
    Build a microVM kernel + rootfs image into a content-addressed directory.

    + image: image name (a VM refers to it with ``image=``), default ``default``
    + present: whether the image should exist
    + kernel: ``auto`` (default: ``mvm`` where the host can build it, else ``debian``; an existing image keeps the
      kernel it was built with), ``mvm`` (mvm's own kernel, built once per host from linux-source-6.1 with
      everything built in, no initrd; a cold build takes minutes), ``debian`` (Debian's cloud kernel with a virtio
      initramfs) or an absolute path
    + initrd: absolute path of an initrd to go with a kernel path
    + rootfs_size: size of rootfs.ext4, MiB or with a unit (``64M``); default 64 for busybox, the image's size plus a
      quarter and 32 MiB for ``oci``
    + flake: ``FLAKEREF#ATTR`` to build with ``nix build`` instead (output: kernel, rootfs.ext4)
    + oci: an OCI or Docker image to make the rootfs of: ``docker://HOST/REPO:TAG``, ``docker-daemon:REPO:TAG``,
      ``oci:/PATH[:TAG]``, ``oci-archive:/PATH`` or ``docker-archive:/PATH`` (skopeo copies it, umoci unpacks it, mvm's
      init is added); addressed by content, its Entrypoint/Cmd/Env/WorkingDir/User are the VMs' workload defaults
    + tls_verify: verify a ``docker://`` registry's TLS certificate (default True; False for a plain-HTTP registry)
    + debian: a Debian rootfs made with ``mmdebstrap --variant=minbase``: ``{"suite": "bookworm", "packages":
      ["python3"], "mirror": "http://deb.debian.org/debian"}`` (suite default bookworm, mirror default mmdebstrap's)
    + format: ``ext4`` (default: each VM boots its own copy) or ``squashfs`` (read-only, shared; each VM writes to an
      overlay on a disk of its own of ``disk_size``, default 256 MiB)
    + bundle: the image is a bundle made elsewhere (``export``): ``{"path": "/srv/web.tar", "digest":
      "sha256:...", "signature": "/srv/web.tar.sig", "allowed_signers": "/etc/mvm/allowed_signers", "signer":
      "builder@example.org", "require_signature": True}``; the host's copy is checked against the digest and the
      signature (``ssh-keygen -Y verify``, namespace ``mvm-image``) before it is unpacked
    + export: write the image's bundle to ``{"dir": ..., "signing_key": ..., "signer": ...}``: ``<dir>/<id>.tar``
      (the same bytes for the same image) and, with a signing key, ``<id>.tar.sig`` (``ssh-keygen -Y sign``)
    + state_root: mvm state directory on the host

    Equal inputs give the same directory: nothing is rebuilt and the operation reports no change.

    **Example:**

    .. code:: python

        from mvm_pyinfra import operations as mvm
        mvm.rootfs(name="Build the default image", image="default")
    """
    params = _image_params(**locals())
    call = _operation("image", params)
    desired, plan, promise = call()
    ops.remember(_pending(), promise)
    yield from _emit(plan, "image %s is up to date" % desired.name, call.plan)


@_validated_early(_vm_params, spec.vm_spec)
def vm(
    vm: str,
    present: bool = True,
    state: str = "running",
    backend: Optional[str] = None,
    image: Optional[str] = None,
    kernel: Optional[str] = None,
    initrd: Optional[str] = None,
    rootfs: Optional[str] = None,
    memory: Optional[Any] = None,
    cpus: Optional[int] = None,
    kernel_args: Optional[str] = None,
    hostname: Optional[str] = None,
    boot_timeout: Optional[float] = None,
    stop_timeout: Optional[float] = None,
    state_root: Optional[str] = None,
    network: Optional[str] = None,
    ports: Optional[Sequence[Any]] = None,
    tap: Optional[str] = None,
    snapshot: Optional[str] = None,
    firecracker: Optional[Dict[str, Any]] = None,
    lima_instance: Optional[str] = None,
    recreate: Optional[bool] = None,
    production: Optional[bool] = None,
    command: Optional[Any] = None,
    entrypoint: Optional[Any] = None,
    workdir: Optional[str] = None,
    user: Optional[str] = None,
    env: Optional[Dict[str, Any]] = None,
    files: Optional[Sequence[Dict[str, Any]]] = None,
    secrets: Optional[Sequence[Dict[str, Any]]] = None,
    restart: Optional[str] = None,
    volumes: Optional[Sequence[Dict[str, Any]]] = None,
    disk_size: Optional[Any] = None,
    autostart: Optional[bool] = None,
    health: Optional[Dict[str, Any]] = None,
    wait_healthy: Optional[bool] = None,
    labels: Optional[Dict[str, Any]] = None,
):
    """
    Run, stop or remove a microVM; recreate a running one whose applied spec differs.

    + vm: VM name (1-64 letters, digits, ``.``, ``_``, ``-``)
    + present: whether the VM should exist; ``False`` removes it (its disk with it)
    + state: ``running`` (default), ``paused`` or ``stopped`` (``absent``: deprecated, use ``present=False``)
    + backend: ``auto`` (default), ``qemu``, ``firecracker``, ``docker``, ``apple-container``, ``lima``
    + image: name of an image built with ``rootfs`` (or give kernel/initrd/rootfs paths)
    + kernel: absolute kernel path on the host
    + initrd: absolute initrd path on the host
    + rootfs: absolute ext4 rootfs path on the host (the VM boots a copy)
    + memory: guest memory, MiB or with a unit (``512M``, ``1G``), default 256
    + cpus: vCPUs, 1 to 64, default 1
    + kernel_args: extra kernel command line
    + hostname: guest hostname, default the VM name
    + boot_timeout: seconds to wait for the guest's readiness marker, default 60
    + stop_timeout: seconds to wait for an ACPI power-down before killing the VMM, default 10
    + state_root: mvm state directory on the host
    + network: bridge made by ``bridge`` to put the VM on (it gets a leased address, a MAC and a TAP)
    + ports: host ports to publish, ``["8080:80", "5353:53/udp"]`` (needs ``network``)
    + tap: name of the VM's TAP (default derived from the state root and VM name)
    + snapshot: start the VM from this snapshot when it has to be created (a template snapshot)
    + firecracker: Firecracker options: ``api``, ``enable_pci``, ``drives``, ``vsock_cid``, ``jailer``,
      ``jailer_id``, ``uid``, ``gid``, ``chroot_base``, ``cgroup_version``, ``netns``, ``seccomp_filter``,
      ``snapshot_type``
    + lima_instance: Lima instance that runs the VM with ``backend="lima"`` (default ``mvm``)
    + recreate: allow a change that replaces the VM's disk (another image, rootfs, backend); without it such a
      change is only reported (a warning) and nothing is done. Restart-only changes (memory, cpus, kernel
      arguments, network) keep the disk either way
    + production: refuse a VM that would run unjailed, as root or under another VM's uid, naming the failing
      check of the security posture (``MvmHost`` fact, ``security``)
    + command: the workload's arguments (a list, or a string split as a shell would), replacing the image's Cmd;
      mvm's init runs it after the readiness marker and logs ``MVM-EXIT <code>`` when it ends
    + entrypoint: replaces the image's Entrypoint (and drops its Cmd unless ``command`` is given)
    + workdir: the workload's working directory (default the image's, else ``/``)
    + user: user the workload runs as, a name from the image's ``/etc/passwd`` or ``uid[:gid]`` (default the
      image's, else ``root``)
    + env: the workload's environment, a dict merged over the image's
    + files: config files ``[{"path": "app.conf", "content": "...", "mode": "0644"}]`` (or ``src``: a file on the
      VM host) on a read-only disk mounted at ``/mvm/config``
    + secrets: like ``files``, on a 0600 disk of their own, in the guest in a tmpfs at ``/mvm/secrets`` (0700),
      each 0600 and owned by ``user``; never in a command's text, the output or the applied spec (a salted hash is)
    + restart: when the workload ends: ``no`` (default: the VM powers off), ``on-failure`` or ``always`` (run again)
    + volumes: persistent data disks ``[{"name": "pgdata", "size": "10G", "mount": "/var/lib/postgresql"}]``, made
      once under the state root, kept across recreation and ``absent`` (deleted only by the ``volume`` operation),
      grown when asked for more, mounted read-write and owned (top directory) by the workload's user
    + disk_size: size of the VM's own root disk (MiB or with a unit), grown from the image's; never shrinks
    + autostart: start the VM again after a host reboot and after its VMM dies: a systemd template unit instance
      (``mvm-vm@.service``) where PID 1 is systemd, ``--restart unless-stopped`` on docker; refused elsewhere
    + health: a health check ``{"command": "wget -qO- localhost:8080", "interval": 10, "timeout": 5, "retries": 3,
      "start_period": 0}`` (a string command runs with the guest's shell, a list is the argv); mvm's init runs it
      in the guest; the ``MvmVms`` fact reports ``starting``, ``healthy`` or ``unhealthy`` with its last output
    + wait_healthy: with ``health``, wait after a start until the check passes; fail on unhealthy (default True)
    + labels: ``{"role": "web"}``, recorded with the VM; the inventory and facts show them

    **Example:**

    .. code:: python

        from mvm_pyinfra import operations as mvm
        mvm.vm(name="Run web", vm="web", image="default", backend="qemu", memory="512M")
    """
    params = _vm_params(**locals())
    call = _operation("vm", params)
    desired, plan, _promise = call()
    changes: Mapping[str, Any] = plan.result.get("changes") or {}
    if changes and plan.steps:
        logger.info("%s: microVM %s differs in %s", host.name, desired.name, ", ".join(sorted(changes)))
    yield from _emit(plan, "microVM %s is %s" % (desired.name, desired.state), call.plan)


def _bridge_params(bridge: str, present: bool, **kwargs: Any) -> Dict[str, Any]:
    return _given(name=bridge, state="present" if present else "absent", **kwargs)


def _tap_params(tap: str, present: bool, **kwargs: Any) -> Dict[str, Any]:
    return _given(name=tap, state="present" if present else "absent", **kwargs)


def _forward_params(present: bool, **kwargs: Any) -> Dict[str, Any]:
    return _given(state="present" if present else "absent", **kwargs)


@_validated_early(_bridge_params, net_engine.bridge_spec)
def bridge(
    bridge: str,
    present: bool = True,
    subnet: Optional[str] = None,
    gateway: Optional[str] = None,
    nat: Optional[bool] = None,
    uplink: Optional[str] = None,
    firewall: Optional[str] = None,
    state_root: Optional[str] = None,
    isolated: Optional[bool] = None,
):
    """
    Ensure a bridge for microVMs: gateway address, up, optional outbound NAT and isolation, network record.

    + bridge: bridge interface name (1-15 bytes)
    + present: whether the bridge, its rules and its record should exist
    + subnet: IPv4 subnet in CIDR form, ``10.77.0.0/24`` (required when present)
    + gateway: bridge address inside the subnet (default: its first host address)
    + nat: masquerade the subnet out of the uplink, with forward rules and IPv4 forwarding (default off)
    + uplink: interface to masquerade to (default: the default route's interface)
    + isolated: the bridge's VMs reach each other, the host's address on the bridge and the uplink, nothing else
      (other bridges, other tenants' VMs) (default off)
    + firewall: ``auto`` (iptables, else nft), ``iptables`` or ``nft``
    + state_root: mvm state directory on the host

    **Example:**

    .. code:: python

        mvm.bridge(name="VM network", bridge="mvmbr0", subnet="10.77.0.0/24", nat=True)
    """
    params = _bridge_params(**locals())
    call = _operation("bridge", params)
    desired, plan, promise = call()
    ops.remember(_pending(), promise)
    yield from _emit(plan, "bridge %s is %s" % (desired.name, desired.state), call.plan)


@_validated_early(_tap_params, net_engine.tap_spec)
def tap(
    tap: str,
    present: bool = True,
    bridge: Optional[str] = None,
    user: Optional[str] = None,
    group: Optional[str] = None,
    state_root: Optional[str] = None,
):
    """
    Ensure a TAP device: owner, attached to a bridge, up.

    + tap: TAP interface name (1-15 bytes)
    + present: whether the TAP should exist
    + bridge: bridge to attach it to
    + user: user (name or uid) allowed to open it
    + group: group (name or gid) allowed to open it
    + state_root: mvm state directory on the host
    """
    params = _tap_params(**locals())
    call = _operation("tap", params)
    desired, plan, _promise = call()
    yield from _emit(plan, "TAP %s is %s" % (desired.name, desired.state), call.plan)


@_validated_early(_forward_params, net_engine.forward_spec)
def port_forward(
    host_port: int,
    guest: Optional[str] = None,
    guest_port: Optional[int] = None,
    proto: Optional[str] = None,
    network: Optional[str] = None,
    present: bool = True,
    firewall: Optional[str] = None,
    state_root: Optional[str] = None,
):
    """
    Forward a host port to a guest address and port (DNAT from other hosts and from the host itself).

    + host_port: port on the host
    + guest: guest IPv4 address (required when present)
    + guest_port: port in the guest (required when present)
    + proto: ``tcp`` (default) or ``udp``
    + network: bridge the guest is on; the guest address must be inside its subnet
    + present: whether the forward should exist
    + firewall: ``auto`` (iptables, else nft), ``iptables`` or ``nft``
    + state_root: mvm state directory on the host
    """
    params = _forward_params(**locals())
    call = _operation("port_forward", params)
    desired, plan, _promise = call()
    yield from _emit(plan, "port %s/%d forward is %s" % (desired.proto, desired.host_port, desired.state), call.plan)


def _snapshot_params(snapshot: str, present: bool = True, state: Optional[str] = None, **kwargs: Any) -> Dict[str, Any]:
    return _given(name=snapshot, state=_present_or_state("snapshot", present, state), **kwargs)


@_validated_early(_snapshot_params, snap_engine.snapshot_spec)
def snapshot(
    snapshot: str,
    vm: Optional[str] = None,
    present: bool = True,
    state: str = "present",
    resume: Optional[bool] = None,
    state_root: Optional[str] = None,
):
    """
    Snapshot a microVM (``present``), start a VM from a snapshot (``restored``) or remove one (``absent``).

    + snapshot: snapshot name
    + vm: VM to snapshot, or to restore into (default: the snapshotted VM's name)
    + present: whether the snapshot should exist; ``False`` removes it
    + state: ``present`` (default) or ``restored`` (``absent``: deprecated, use ``present=False``)
    + resume: resume the VM after taking the snapshot (default true)
    + state_root: mvm state directory on the host

    **Example:**

    .. code:: python

        mvm.snapshot(name="Snapshot the template", snapshot="tpl", vm="tpl")
        mvm.vm(name="Instance a", vm="a", image="default", backend="qemu", snapshot="tpl")
    """
    params = _snapshot_params(**locals())
    call = _operation("snapshot", params)
    desired, plan, promise = call()
    ops.remember(_pending(), promise)
    yield from _emit(plan, "snapshot %s is %s" % (desired.name, desired.state), call.plan)


def _template_params(template: str, present: bool, **kwargs: Any) -> Dict[str, Any]:
    return _given(name=template, state="present" if present else "absent", **kwargs)


@_validated_early(_template_params, template_engine.template_params)
def vm_template(
    template: str,
    present: bool = True,
    backend: Optional[str] = None,
    image: Optional[str] = None,
    kernel: Optional[str] = None,
    initrd: Optional[str] = None,
    rootfs: Optional[str] = None,
    memory: Optional[Any] = None,
    cpus: Optional[int] = None,
    kernel_args: Optional[str] = None,
    network: Optional[str] = None,
    boot_timeout: Optional[float] = None,
    firecracker: Optional[Dict[str, Any]] = None,
    state_root: Optional[str] = None,
):
    """
    Make a template snapshot once: boot a builder VM, snapshot it, remove the builder.

    + template: template (snapshot) name
    + present: whether the template should exist
    + backend, image, kernel, initrd, rootfs, memory, cpus, kernel_args, network, boot_timeout: the
      builder VM's machine, as for ``vm`` (instances must have the same machine)
    + firecracker: Firecracker options of the builder, as for ``vm``
    + state_root: mvm state directory on the host

    **Example:**

    .. code:: python

        mvm.vm_template(name="Web template", template="web", image="default", backend="qemu", network="mvmbr0")
        mvm.vm(name="web-a", vm="web-a", image="default", backend="qemu", network="mvmbr0", snapshot="web")
    """
    params = _template_params(**locals())
    call = _operation("template", params)
    desired, plan, promise = call()
    ops.remember(_pending(), promise)
    yield from _emit(plan, "template %s is %s" % (desired["name"], desired["state"]), call.plan)


def _install_params(present: bool, **kwargs: Any) -> Dict[str, Any]:
    return _given(state="present" if present else "absent", **kwargs)


@_validated_early(_install_params, install_engine.install_spec)
def firecracker_install(
    version: Optional[str] = None,
    sha256: Optional[str] = None,
    arch: Optional[str] = None,
    url: Optional[str] = None,
    src: Optional[str] = None,
    bin_dir: Optional[str] = None,
    present: bool = True,
    state_root: Optional[str] = None,
):
    """
    Install a pinned Firecracker release (firecracker and jailer), checksum verified, idempotent by version.

    + version: release version, ``1.14.1``
    + sha256: SHA-256 of the release tarball (required for downloads)
    + arch: ``x86_64`` or ``aarch64`` (default: the host's)
    + url: release URL template with ``{version}`` and ``{arch}`` (default: the GitHub release)
    + src: a local release tarball or binary on the host, instead of a download
    + bin_dir: where the binaries go (default ``/usr/local/bin``)
    + present: whether Firecracker should be installed
    + state_root: mvm state directory on the host (holds the install record)
    """
    params = _install_params(**locals())
    call = _operation("firecracker_install", params)
    desired, plan, _promise = call()
    yield from _emit(plan, "firecracker %s is %s" % (desired.version, desired.state), call.plan)


def _volume_params(volume: str, present: bool, **kwargs: Any) -> Dict[str, Any]:
    return _given(name=volume, state="present" if present else "absent", **kwargs)


@_validated_early(_volume_params, volume_engine.volume_spec)
def volume(
    volume: str,
    present: bool = True,
    size: Optional[Any] = None,
    state_root: Optional[str] = None,
):
    """
    Ensure a persistent data volume of microVMs (``<state_root>/volumes/<name>.ext4``, 0600), or delete one.

    + volume: volume name (letters, digits, ``.``, ``_``, ``-``)
    + present: whether it should exist; ``False`` deletes it, refused while a VM still lists it
    + size: MiB or with a unit (``10G``); default 1 GiB for a new volume. A volume grows (refused while a running
      VM uses it) and never shrinks
    + state_root: mvm state directory on the host

    A VM makes the volumes it lists (``vm(volumes=[...])``) that do not exist yet; its ``absent`` keeps them.

    **Example:**

    .. code:: python

        from mvm_pyinfra import operations as mvm
        mvm.volume(name="Grow the database volume", volume="pgdata", size="20G")
    """
    params = _volume_params(**locals())
    call = _operation("volume", params)
    desired, plan, _promise = call()
    yield from _emit(plan, "volume %s is %s" % (desired.name, desired.state), call.plan)


def _lima_params(instance: str, present: bool = True, state: Optional[str] = None, **kwargs: Any) -> Dict[str, Any]:
    return _given(name=instance, state=_present_or_state("lima_vm", present, state), **kwargs)


@_validated_early(_lima_params, lima_engine.lima_spec)
def lima_vm(
    instance: str,
    present: bool = True,
    state: str = "running",
    cpus: Optional[int] = None,
    memory: Optional[Any] = None,
    disk: Optional[int] = None,
    arch: Optional[str] = None,
    vm_type: Optional[str] = None,
    nested_virtualization: Optional[bool] = None,
    mounts: Optional[Sequence[Dict[str, Any]]] = None,
    port_forwards: Optional[Sequence[Dict[str, Any]]] = None,
    provision: Optional[Sequence[str]] = None,
    image: Optional[str] = None,
    allow_restart: Optional[bool] = None,
    state_root: Optional[str] = None,
):
    """
    Ensure a Lima VM: present, running, stopped or absent; lima.yaml edited in place (ruamel.yaml round trip).

    + instance: Lima instance name
    + present: whether the instance should exist; ``False`` removes it
    + state: ``present``, ``running`` (default) or ``stopped`` (``absent``: deprecated, use ``present=False``)
    + cpus, memory, disk, arch, vm_type, nested_virtualization: the instance's machine
    + mounts: list of ``{location, writable}``
    + port_forwards: list of ``{guest_port, host_port}``
    + provision: ``kvm_group``, ``firecracker``, ``nix``
    + image: guest image location (default Ubuntu 24.04 cloud images)
    + allow_restart: stop and start a running instance to apply cpus, memory or disk (else report it)
    + state_root: mvm state directory on the host
    """
    params = _lima_params(**locals())
    call = _operation("lima", params)
    desired, plan, _promise = call()
    yield from _emit(plan, "Lima instance %s is %s" % (desired.name, desired.state), call.plan)


def _vms_params(**kwargs: Any) -> Dict[str, Any]:
    return _given(**kwargs)


def _pool_params(**kwargs: Any) -> Dict[str, Any]:
    return _given(**kwargs)


def _fleet_pool(params: Mapping[str, Any]) -> Any:
    """The pool and its tenant from the fleet file, validated with the whole file (when the deploy calls pool)."""
    from ansible_collections.mvm.microvm.plugins.plugin_utils import fleet as fleet_files

    try:
        found = fleet_files.load_pool_spec(params["fleet"], params["pool"])
        return found, fleet_files.load_tenant_config(params["fleet"], found.tenant)
    except fleet_files.FleetError as exc:
        raise SpecError("fleet", str(exc)) from None


_POOL_LOOKS: Dict[Tuple[Any, ...], Dict[str, Any]] = {}


def _pool_look(params: Mapping[str, Any]) -> Dict[str, Any]:
    """Every VM host's facts as the run found them, read once per run and pool - when the deploy first calls
    `pool`, before any operation ran (with -y pyinfra runs operation bodies only at execution, and a body that
    read the other hosts then would see them half-way through the same step). Every step of a rolling update, on
    every host, plans from this one look, as Ansible's steps plan from the facts task before them."""
    hosts = params.get("hosts")
    key = (id(host.state), params["pool"], params.get("state_root"), tuple(hosts) if hosts is not None else None)
    if key not in _POOL_LOOKS:
        _POOL_LOOKS[key] = _pool_facts(params.get("state_root"), hosts)
    return _POOL_LOOKS[key]


def _pool_early(params: Mapping[str, Any]) -> Any:
    """At the deploy's call: the fleet file validated, and the run's look at every host taken."""
    found = _fleet_pool(params)
    _pool_look(params)
    return found


def _pool_facts(state_root: Optional[str], names: Optional[Sequence[str]]) -> Dict[str, Any]:
    """Every VM host's mvm facts (None: the host failed or did not connect), each with its own state root."""
    found: Dict[str, Any] = {}
    for other in host.state.inventory:
        if names is not None and other.name not in names:
            continue
        if other not in host.state.active_hosts:
            found[other.name] = None
            continue
        found[other.name] = other.get_fact(MvmHost, state_root=state_root or other.data.get("mvm_state_root"))
    return found


@_validated_early(_pool_params, _pool_early)
def pool(
    fleet: str,
    pool: str,
    state_root: Optional[str] = None,
    hosts: Optional[Sequence[str]] = None,
    revision: Optional[int] = None,
    batch: int = 0,
):
    """
    Spread a pool of identical microVMs over the deploy's VM hosts: this host gets its share, as ``vms``.

    + fleet: path of the fleet file on the controller (see ``mvm_pyinfra.fleet``)
    + pool: the pool's name in it
    + state_root: mvm state directory on every host (default: each host's ``mvm_state_root`` data)
    + hosts: the inventory hosts to spread over (default: every host of the inventory)
    + revision: apply the pool as this revision recorded it (a rollback, itself recorded as a new revision)
    + batch: the step of a rolling update to apply, from 0 (past the last: the last); see below

    Every apply that changes the pool or where its instances run appends a record (number, time, spec and its
    sha256, image digest, instances per host, the controller's user) to ``<state_root>/fleet/<pool>.revisions`` on
    each host; the ``MvmHost`` fact lists them under ``revisions``.

    Instances are named ``<pool>-0`` .. ``<pool>-<N-1>``; one stays on its host while that host is in the deploy,
    a missing one goes to the host with the fewest of the pool's instances (then by name) that has memory and
    tenant quota left; instances beyond the count are removed. The placement is the
    one Ansible's ``mvm.microvm.pool`` computes (plugin_utils/placement.py). A pool that publishes ports runs
    one instance per host.

    On each host that runs instances the tenant's bridge comes first (``bridge`` with NAT and ``isolated``,
    ``mvt-<tenant>``, a /24 of its ``subnet_pool`` the host keeps; plugin_utils/tenancy.py); every instance gets a
    TAP on it.

    Rolling update: each instance carries the pool spec it runs (label ``mvm.spec``); when the fleet file changes
    what they run, the out-of-date instances are updated ``update.max_unavailable + update.max_surge`` at a time
    in index order (surge instances start first and go last; an image change replaces an instance's disk). One
    operation applies one step, so a deploy calls ``pool``
    once per step (``mvm_pyinfra.fleet.update_steps`` gives an upper bound; steps past the last change nothing)
    and sets ``config.FAIL_PERCENT = 0`` so that a failed step or a lost host stops the run, as
    ``playbooks/fleet.py`` does. A step returns when its VMs are ready (healthy, with a health check). While
    instances are out of date, a host that does not answer stops the update before it begins. Every step
    computes its batch from one look at every host, taken when the deploy first calls ``pool`` (before any
    operation runs); each host's ``vms`` then plans on that host as it is when the step runs.
    """
    from ansible_collections.mvm.microvm.plugins.plugin_utils import fleet as fleet_files
    from ansible_collections.mvm.microvm.plugins.plugin_utils import revisions

    found, tenant = _fleet_pool({"fleet": fleet, "pool": pool})
    if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int) or revision < 1):
        raise OperationValueError("revision: expected a revision number (1 or more), got %r" % (revision,))
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
        raise OperationValueError("batch: expected a step number of the update (0 or more), got %r" % (batch,))
    try:
        facts = _pool_look({"pool": pool, "state_root": state_root, "hosts": hosts})
        applying = revisions.plan_pool(found, tenant, facts, revision, batch)
    except fleet_files.FleetError as exc:
        raise OperationError(str(exc)) from None
    share, record = applying.hosts.get(host.name, []), applying.records.get(host.name)
    root = str(state_root or host.data.get("mvm_state_root") or (facts.get(host.name) or {}).get("state_root") or "")

    def with_record(plan: Plan) -> Plan:
        if record is not None and root:
            plan.steps.append(revisions.write_step(root, record))
        return plan

    if not share:
        plan = with_record(Plan())
        yield from _emit(plan, "pool %s has no instance on %s" % (pool, host.name), lambda: plan)
        return
    network = applying.networks.get(host.name)
    if network:
        # The tenant's bridge first; the VMs plan on it as this plan leaves it (remembered for the run).
        bridge_call = _operation("bridge", dict(network, state_root=root) if root else dict(network))
        _bdesired, bridge_plan, bridge_promise = bridge_call()
        ops.remember(_pending(), bridge_promise)
        yield from _emit(bridge_plan, "tenant %s's bridge is as asked" % found.tenant, bridge_call.plan)
    params: Dict[str, Any] = {"vms": share}
    if root:
        params["state_root"] = root
    call = _operation("vms", params)
    _desired, plan, _promise = call()
    yield from _emit(with_record(plan), "pool %s's instances here are as asked" % pool, lambda: with_record(call.plan()))


@_validated_early(_vms_params, ops.vms_specs)
def vms(
    vms: Sequence[Dict[str, Any]],
    backend: Optional[str] = None,
    image: Optional[str] = None,
    state_root: Optional[str] = None,
):
    """
    Ensure many microVMs at once from one look at the host: a converged host costs one fact, whatever
    the number of VMs.

    + vms: list of dicts with the arguments of ``vm`` (``name`` instead of ``vm``)
    + backend: default backend of the entries
    + image: default image of the entries
    + state_root: mvm state directory on the host
    """
    params = _vms_params(**locals())
    call = _operation("vms", params)
    _desired, plan, _promise = call()
    yield from _emit(plan, "%d microVMs are as asked" % len(vms), call.plan)
