# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet files, read and validated on the controller: tenants (a subnet pool, quotas) and pools (a group of
identical VMs of one tenant: image by name and pinned digest, instance count, size, workload, ports, health,
update policy).

pydantic checks the structure and the types (unknown keys are errors); what a pool says about its VMs is then
checked by the engine's own VM parser (module_utils/spec.vm_spec), so a fleet file accepts exactly what the `vm`
operation accepts. Every error names the file, the line and the field (`fleet.yml:12: pools[0].memory: ...`).
Controller-side only: Ansible's lookup plugin `mvm.microvm.fleet` and pyinfra deploys (mvm_pyinfra.fleet) use it.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import json
import re
from typing import Any, Dict, List, Optional, Tuple

try:
    from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    HAS_DEPS = True
except ImportError:  # pragma: no cover - the controller needs them; Ansible's sanity import test has neither
    HAS_DEPS = False
    BaseModel = object  # type: ignore

    def Field(*_args: Any, **_kwargs: Any) -> Any:  # type: ignore # noqa: N802
        return None

    def field_validator(*_args: Any, **_kwargs: Any) -> Any:  # type: ignore
        return lambda f: f

    def model_validator(*_args: Any, **_kwargs: Any) -> Any:  # type: ignore
        return lambda f: f

    ConfigDict = dict  # type: ignore

from ansible_collections.mvm.microvm.plugins.module_utils import spec as engine_spec
from ansible_collections.mvm.microvm.plugins.module_utils import workload
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError

REQUIREMENTS = "pydantic>=2 and ruamel.yaml on the controller (pip install mvm, or pip install pydantic ruamel.yaml)"
MAX_INSTANCES = 1000
# The longest pool name whose last instance name (`<pool>-<MAX_INSTANCES - 1>`) is still a VM name.
MAX_POOL_NAME = 64 - len("-%d" % (MAX_INSTANCES - 1))
# A pool's options that are the `vm` operation's own, handed to its parser as they are.
# The workload options a pool takes: the vm operation's own (module_utils/workload), less the health check (the
# pool's) and secrets (a fleet file is read, templated and logged as a whole: the vms operation refuses them too).
WORKLOAD_KEYS = tuple(k for k in workload.OPTION_NAMES if k not in ("health", "secrets"))


class FleetError(Exception):
    """A fleet file that cannot be used: the message names the file, the line and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Named(_Strict):
    """A tenant or a pool: named as VMs are (a pool's name prefixes its instances' names)."""

    name: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _engine(lambda: engine_spec.validate.name("name", value, max_len=MAX_POOL_NAME))


class Quota(_Strict):
    """Upper bounds; a bound left out is no bound."""

    vms: Optional[int] = Field(default=None, ge=0, description="VMs")
    cpus: Optional[int] = Field(default=None, ge=0, description="vCPUs")
    memory: Optional[int] = Field(default=None, ge=0, description="guest memory, MiB")


class Quotas(_Strict):
    per_host: Quota = Field(default_factory=Quota, description="on any one VM host")
    total: Quota = Field(default_factory=Quota, description="over all VM hosts")


class Tenant(_Named):
    """Whose VMs share a bridge and a subnet on each host, apart from every other tenant's."""

    name: str = Field(description="the tenant's name (a VM name's characters)")
    subnet_pool: str = Field(description="IPv4 network the tenant's per-host subnets come from, e.g. 10.80.0.0/16")
    quotas: Quotas = Field(default_factory=Quotas)

    @field_validator("subnet_pool")
    @classmethod
    def _subnet_pool(cls, value: str) -> str:
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError("expected an IPv4 network like 10.80.0.0/16 (%s)" % exc) from None
        if net.prefixlen > 24:
            raise ValueError("a /%d has no room for a /24 per host; give /24 or wider" % net.prefixlen)
        return str(net)


class Image(_Strict):
    """An image by name (as the rootfs operation builds it) and the digest it must have."""

    name: str = Field(description="the image's name")
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$", description="sha256:<64 hex digits>, the image pinned")


class Update(_Strict):
    """How a changed pool is rolled out."""

    max_unavailable: int = Field(default=1, ge=0, description="instances that may be down at once")
    max_surge: int = Field(default=0, ge=0, description="instances that may run beyond the count during an update")

    @model_validator(mode="after")
    def _moves(self) -> "Update":
        if self.max_unavailable == 0 and self.max_surge == 0:
            raise ValueError("max_unavailable and max_surge are both 0: an update could never start")
        return self


class Pool(_Named):
    """Identical VMs of one tenant, named <name>-0 .. <name>-N-1."""

    name: str = Field(description="the pool's name, the prefix of its instances' names")
    tenant: str = Field(description="the tenant the pool belongs to")
    image: Image
    instances: int = Field(ge=0, le=MAX_INSTANCES, description="how many VMs")
    backend: str = Field(default="auto", description="the vm operation's backend (auto: the host's best)")
    cpus: int = Field(default=1, ge=1, le=64, description="vCPUs per VM")
    memory: int = Field(default=256, ge=32, description="guest memory per VM, MiB")
    workload: Dict[str, Any] = Field(default_factory=dict,
                                     description="the vm operation's workload options (command, env, user, ...)")
    ports: List[str] = Field(default_factory=list, description="published ports, HOST:GUEST[/udp]")
    health: Optional[Dict[str, Any]] = Field(default=None, description="the vm operation's health check")
    update: Update = Field(default_factory=Update)
    labels: Dict[str, str] = Field(default_factory=dict)

    @field_validator("workload")
    @classmethod
    def _workload(cls, value: Dict[str, Any]) -> Dict[str, Any]:
        for key in value:
            if key not in WORKLOAD_KEYS:
                raise ValueError("%s is not a workload option here (%s)%s" % (
                    key, ", ".join(WORKLOAD_KEYS), "; secrets do not go in a fleet file, which is read and logged "
                    "as a whole" if key == "secrets" else "; it is the pool's own option" if key in cls.model_fields
                    else ""))
        return value

    def spec_id(self) -> str:
        """What an instance runs, in 16 hex digits: everything of the pool but how many and how to roll out. Each
        instance carries it as label `mvm.spec`; one with another is out of date (a rolling update's work)."""
        what = self.model_dump(exclude={"instances", "update"})
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]

    def vm_params(self, index: int = 0) -> Dict[str, Any]:
        """What the `vm` operation is given for instance `index` (the engine validates it again on the host)."""
        params = dict(self.workload, name="%s-%d" % (self.name, index), image=self.image.name, backend=self.backend,
                      cpus=self.cpus,
                      memory=self.memory, ports=list(self.ports),
                      labels=dict(self.labels, **{"mvm.pool": self.name, "mvm.tenant": self.tenant,
                                                  "mvm.spec": self.spec_id()}))
        if self.health is not None:
            params["health"] = dict(self.health)
        return params


class Fleet(_Strict):
    """A fleet file: its tenants and its pools."""

    tenants: List[Tenant] = Field(default_factory=list)
    pools: List[Pool] = Field(default_factory=list)


def _engine(check: Any) -> Any:
    """The engine's validation, its refusal as pydantic's (which adds the field and the line)."""
    try:
        return check()
    except SpecError as exc:
        raise ValueError(str(exc).split(": ", 1)[-1]) from None


def _line(document: Any, loc: Tuple[Any, ...]) -> Optional[int]:
    """The 1-based line of the deepest part of `loc` the document has (a missing key: its mapping's line)."""
    node, line = document, None
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(part, int) and isinstance(node, list):
                line = lc.item(part)[0] + 1 if lc is not None else line
                node = node[part]
            elif isinstance(node, dict) and part in node:
                line = lc.key(part)[0] + 1 if lc is not None else line
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    if line is None and getattr(document, "lc", None) is not None:
        line = document.lc.line + 1
    return line


def _where(loc: Tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += "[%d]" % part if isinstance(part, int) else ("." if text else "") + str(part)
    return text or "(top)"


def _fail(path: str, document: Any, loc: Tuple[Any, ...], message: str) -> FleetError:
    line = _line(document, loc)
    return FleetError("%s%s: %s: %s" % (path, ":%d" % line if line else "", _where(loc), message))


def parse(text: str, path: str = "<fleet>") -> Fleet:
    """Validate a fleet file's text; FleetError names the file, the line and the field of the first problem."""
    if not HAS_DEPS:
        raise FleetError("fleet files need " + REQUIREMENTS)
    try:
        document = YAML(typ="rt").load(text)
    except YAMLError as exc:
        raise FleetError("%s: not YAML: %s" % (path, str(exc).replace("\n", " "))) from None
    if document is None:
        document = {}
    try:
        fleet = Fleet.model_validate(json.loads(json.dumps(document)))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
        raise _fail(path, document, loc, first["msg"].replace("Value error, ", "")) from None
    _check(fleet, document, path)
    return fleet


def _check(fleet: Fleet, document: Any, path: str) -> None:
    """Rules between entries: unique names, known tenants, totals within quotas, and every pool's VM options as
    the `vm` operation reads them."""
    for kind, names in (("tenants", [t.name for t in fleet.tenants]), ("pools", [p.name for p in fleet.pools])):
        for i, name in enumerate(names):
            if name in names[:i]:
                raise _fail(path, document, (kind, i, "name"), "%s appears more than once" % name)
    tenants = {t.name: t for t in fleet.tenants}
    for i, pool in enumerate(fleet.pools):
        if pool.tenant not in tenants:
            raise _fail(path, document, ("pools", i, "tenant"), "no tenant named %s in this file (tenants: %s)" % (
                pool.tenant, ", ".join(sorted(tenants)) or "none"))
        try:
            engine_spec.vm_spec(pool.vm_params(max(pool.instances - 1, 0)))
        except SpecError as exc:
            base = re.split(r"[.\[]", exc.field)[0]
            loc = ("pools", i, base) if base in Pool.model_fields else ("pools", i, "workload", base)
            raise _fail(path, document, loc, str(exc)) from None
    for name, tenant in tenants.items():
        pools = [p for p in fleet.pools if p.tenant == name]
        used = {"vms": sum(p.instances for p in pools), "cpus": sum(p.instances * p.cpus for p in pools),
                "memory": sum(p.instances * p.memory for p in pools)}
        index = next(i for i, t in enumerate(fleet.tenants) if t.name == name)
        for what, value in used.items():
            bound = getattr(tenant.quotas.total, what)
            if bound is not None and value > bound:
                raise _fail(path, document, ("tenants", index, "quotas", "total", what),
                            "tenant %s's pools ask for %d %s in all, over its quota of %d" % (
                                name, value, "MiB of memory" if what == "memory" else what, bound))


def load(path: str) -> Fleet:
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError as exc:
        raise FleetError("%s: cannot read the fleet file: %s" % (path, exc.strerror)) from None
    return parse(text, path)


def load_pool_spec(path: str, name: str) -> Pool:
    """The pool `name` of the fleet file at `path`, validated with the whole file."""
    found = next((p for p in load(path).pools if p.name == name), None)
    if found is None:
        raise FleetError("%s: no pool named %s" % (path, name))
    return found


def load_tenant_config(path: str, name: str) -> Tenant:
    """The tenant `name` of the fleet file at `path`, validated with the whole file."""
    found = next((t for t in load(path).tenants if t.name == name), None)
    if found is None:
        raise FleetError("%s: no tenant named %s" % (path, name))
    return found


def json_schema() -> Dict[str, Any]:
    """The fleet file's JSON Schema (editors validate fleet files with it; `make schema` writes it)."""
    schema = Fleet.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mvm fleet file"
    return schema
