"""pyinfra operations for microVMs. Each one turns its arguments into an engine spec, reads the
``MvmHost`` fact, asks the engine for a plan and yields the plan's commands (or a no-op).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence

from pyinfra import host, logger
from pyinfra.api import OperationError, OperationValueError, operation

from ansible_collections.mvm.microvm.plugins.module_utils import ops, spec
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError, SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan
from mvm_pyinfra.facts import MvmHost, MvmPaths

# Images that an earlier rootfs operation of this deploy will build, per host: during pyinfra's
# prepare phase they do not exist yet, and a VM operation after them must not call them missing.
_PENDING: Dict[str, Dict[str, Dict[str, Any]]] = {}


def _gather_host(state_root: Optional[str]) -> Dict[str, Any]:
    return host.get_fact(MvmHost, state_root=state_root)


def _gather_paths(paths: Sequence[str]) -> Dict[str, str]:
    return host.get_fact(MvmPaths, paths=list(paths))


def _pending() -> Dict[str, Dict[str, Any]]:
    return _PENDING.setdefault("%s:%s" % (id(host.state), host.name), {})


def _given(**kwargs: Any) -> Dict[str, Any]:
    """Arguments the user gave; the engine fills in its defaults for the rest."""
    return {k: v for k, v in kwargs.items() if v is not None}


def _emit(plan: Plan, noop: str) -> Iterator[str]:
    for warning in plan.warnings:
        logger.warning("%s: %s", host.name, warning)
    if not plan.steps:
        host.noop(noop)
        return
    for step in plan.steps:
        yield step.command


def _plan_errors(exc: Exception) -> Exception:
    if isinstance(exc, SpecError):
        return OperationValueError(str(exc))
    return OperationError(str(exc))


def _validated_early(to_params: Callable[..., Dict[str, Any]], make_spec: Callable[[Dict[str, Any]], Any]):
    """An operation whose arguments are validated when the deploy calls it.

    pyinfra runs an operation's body lazily (with -y, only at execution, after earlier operations
    ran); bad input must fail before any command reaches a host, so the spec is built eagerly too.
    """

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        op = operation()(func)
        signature = inspect.signature(func)

        @functools.wraps(op)
        def call(*args: Any, **kwargs: Any) -> Any:
            own = {k: v for k, v in kwargs.items() if k in signature.parameters}
            bound = signature.bind_partial(*args, **own)
            bound.apply_defaults()
            try:
                make_spec(to_params(**bound.arguments))
            except SpecError as exc:
                raise OperationValueError(str(exc))
            return op(*args, **kwargs)

        call._inner = func  # type: ignore[attr-defined]
        return call

    return decorator


def _image_params(image: str, present: bool, **kwargs: Any) -> Dict[str, Any]:
    return _given(name=image, state="present" if present else "absent", **kwargs)


def _vm_params(vm: str, **kwargs: Any) -> Dict[str, Any]:
    return _given(name=vm, **kwargs)


@_validated_early(_image_params, spec.image_spec)
def rootfs(
    image: str = "default",
    present: bool = True,
    kernel: Optional[str] = None,
    initrd: Optional[str] = None,
    rootfs_size: Optional[Any] = None,
    flake: Optional[str] = None,
    state_root: Optional[str] = None,
):
    """
    Build a microVM kernel + rootfs image into a content-addressed directory.

    + image: image name (a VM refers to it with ``image=``), default ``default``
    + present: whether the image should exist
    + kernel: ``debian`` (default: Debian's cloud kernel with a virtio initramfs) or an absolute path
    + initrd: absolute path of an initrd to go with a kernel path
    + rootfs_size: size of rootfs.ext4, MiB or with a unit (``64M``, default 64)
    + flake: ``FLAKEREF#ATTR`` to build with ``nix build`` instead (output: kernel, rootfs.ext4)
    + state_root: mvm state directory on the host

    Equal inputs give the same directory: nothing is rebuilt and the operation reports no change.

    **Example:**

    .. code:: python

        from mvm_pyinfra import operations as mvm
        mvm.rootfs(name="Build the default image", image="default")
    """
    params = _image_params(**locals())
    try:
        desired, plan, entry = ops.image_plan(params, _gather_host, _gather_paths)
    except MvmError as exc:
        raise _plan_errors(exc)
    if entry:
        _pending()[desired.name] = entry
    else:
        _pending().pop(desired.name, None)
    yield from _emit(plan, "image %s is up to date" % desired.name)


@_validated_early(_vm_params, spec.vm_spec)
def vm(
    vm: str,
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
):
    """
    Run, stop or remove a microVM; recreate a running one whose applied spec differs.

    + vm: VM name (1-64 letters, digits, ``.``, ``_``, ``-``)
    + state: ``running`` (default), ``stopped`` or ``absent``
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

    **Example:**

    .. code:: python

        from mvm_pyinfra import operations as mvm
        mvm.vm(name="Run web", vm="web", image="default", backend="qemu", memory="512M")
    """
    params = _vm_params(**locals())
    try:
        desired, plan = ops.vm_plan(params, _gather_host, _gather_paths, pending=_pending())
    except MvmError as exc:
        raise _plan_errors(exc)
    changes: Mapping[str, Any] = plan.result.get("changes") or {}
    if changes and plan.steps:
        logger.info("%s: microVM %s differs in %s", host.name, desired.name, ", ".join(sorted(changes)))
    yield from _emit(plan, "microVM %s is %s" % (desired.name, desired.state))
