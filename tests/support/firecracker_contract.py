"""Firecracker's official API contract (the swagger in ../shared/contracts/firecracker), strictly applied,
and a test double that answers on a unix socket as the swagger says (for the curl client's own tests)."""

from __future__ import annotations

import copy
import json
import os
import re
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator

from tests.conftest import REPO

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


PRE_BOOT = ("/logger", "/boot-source", "/machine-config", "/drives/", "/network-interfaces/", "/vsock", "/metrics",
            "/mmds", "/entropy", "/balloon", "/cpu-config", "/serial")


class Double(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Answers as Firecracker's API would: validates each body against the contract, keeps the VM state."""

    daemon_threads = True

    def __init__(self, path: str, contract: Contract) -> None:
        self.contract = contract
        self.requests: list[tuple[str, str, Any]] = []
        self.state = "Not started"
        super().__init__(path, _Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if method == "GET" and path == "/":
            return 200, {"app_name": "Firecracker", "id": "double", "state": self.state,
                         "vmm_version": self.contract.version}
        errors = self.contract.check_call(method, path, body)
        if errors:
            return 400, {"fault_message": "; ".join(errors)}
        if path.startswith(PRE_BOOT) and self.state != "Not started":
            return 400, {"fault_message": f"{path} is pre-boot only"}
        if path == "/actions" and body.get("action_type") == "InstanceStart":
            self.state = "Running"
        elif path == "/vm":
            self.state = "Paused" if body["state"] == "Paused" else "Running"
        elif path == "/snapshot/create" and self.state != "Paused":
            return 400, {"fault_message": "the VM must be paused to create a snapshot"}
        elif path == "/snapshot/load":
            if len(self.requests) > 1 and any(p not in ("/logger", "/metrics") for _m, p, _b in self.requests[:-1]):
                return 400, {"fault_message": "snapshot/load only on a fresh process"}
            self.state = "Running" if body.get("resume_vm") else "Paused"
        return 204, None


class _Handler(BaseHTTPRequestHandler):
    server: Double

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        status, reply = self.server.answer(self.command, self.path, body)
        data = json.dumps(reply).encode() if reply is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = _handle

    def address_string(self) -> str:
        return "unix"

    def log_message(self, *args: Any) -> None:
        pass
