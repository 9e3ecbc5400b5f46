"""Firecracker's official API contract (the swagger in ../shared/contracts/firecracker), strictly applied,
and the process double's server run in a thread, holding every body to it (for the curl client's own tests)."""

from __future__ import annotations

import copy
import os
import re
import threading
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator

from tests.conftest import REPO
from tests.support import firecracker_double

VERSIONS = ("1.14.1", "1.16.1")


def contract_dir() -> Path:
    return Path(os.environ.get("MVM_FIRECRACKER_SWAGGER_DIR") or REPO.parent / "shared" / "contracts" / "firecracker")


def _strict(node: Any) -> Any:
    """Every object schema closed: a key the contract does not define is an error, not a silent extra."""
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


class Contract:
    def __init__(self, version: str) -> None:
        self.version = version
        self.doc = yaml.safe_load((contract_dir() / f"firecracker-v{version}.yaml").read_text())
        self.definitions = _strict(copy.deepcopy(self.doc["definitions"]))
        self.paths = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in self.doc["paths"]]

    def errors(self, schema_ref: str, body: Any) -> list[str]:
        validator = Draft4Validator({"$ref": schema_ref, "definitions": self.definitions})
        return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(body)]

    def check_call(self, method: str, path: str, body: Any) -> list[str]:
        """Errors for one request: unknown path or method, or a body its schema refuses."""
        for pattern, template in self.paths:
            if pattern.match(path):
                operation = self.doc["paths"][template].get(method.lower())
                if operation is None:
                    return [f"{method} {template} is not in the v{self.version} contract"]
                params = [p for p in operation.get("parameters", []) if p.get("in") == "body"]
                if not params:
                    return [] if not body else [f"{method} {template} takes no body"]
                return self.errors(params[0]["schema"]["$ref"], body)
        return [f"{path} is not in the v{self.version} contract"]


class _CheckedVmm(firecracker_double.Vmm):
    """The process double's VM state machine, in process: every body is first held to the contract (a 400 with
    the schema's complaint, as Firecracker answers a bad body), and no file is looked at (the unit tests use the
    paths a host would have)."""

    def __init__(self, contract: Contract) -> None:
        super().__init__({"--id": "double"})
        self.contract = contract
        self.requests: list[tuple[str, str, Any]] = []

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        errors = [] if method == "GET" else self.contract.check_call(method, path, body)
        if errors:
            return 400, {"fault_message": "; ".join(errors)}
        return super().answer(method, path, body)

    def need_file(self, path: str, write: bool = False, what: str = "file") -> None:
        pass

    def log(self, method: str, path: str, body: Any, status: int) -> None:
        pass


class Double(firecracker_double.Server):
    """Firecracker's API on a unix socket, in a thread of the test (the process double's server and state
    machine, see firecracker_double.py), for the curl client's and the probe's own tests."""

    def __init__(self, path: str, contract: Contract) -> None:
        super().__init__(path, firecracker_double.Handler)
        self.vmm = _CheckedVmm(contract)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def requests(self) -> list[tuple[str, str, Any]]:
        return self.vmm.requests

    @property
    def state(self) -> str:
        return self.vmm.state

    @state.setter
    def state(self, value: str) -> None:
        self.vmm.state = value

    def close(self) -> None:
        self.shutdown()
        self.server_close()
