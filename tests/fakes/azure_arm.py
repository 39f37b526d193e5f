"""A fake Microsoft Entra token endpoint and Azure Resource Manager, over HTTPS, for the real
azure-identity / azure-mgmt-* clients.

Responses replay the published example payloads in tests/data/azure/ (see PROVENANCE.md), with
the request's id, name, location and properties laid over them. Long-running operations answer
with Azure-AsyncOperation (AKS, registries) or Location (storage accounts) and finish after a few
polls, never by the clock, so tests need no sleeps. Faults are scripted per test.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.tls import TestPki

DATA = Path(__file__).resolve().parents[1] / "data" / "azure"
CONTRIBUTOR = ["*"]
READER = ["*/read"]
PROVIDERS = (
    "Microsoft.ContainerService",
    "Microsoft.Compute",
    "Microsoft.Network",
    "Microsoft.Storage",
    "Microsoft.ContainerRegistry",
)


def example(name: str, status: str = "200") -> dict:
    """The published example body of `name` (relative to tests/data/azure) for `status`."""
    data = json.loads((DATA / name).read_text())
    return copy.deepcopy(data["responses"][status].get("body", {}))


@dataclass
class Fault:
    method: str
    path: str  # regex searched in the lower-cased path
    status: int
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


@dataclass
class Operation:
    id: str
    resource_id: str
    namespace: str
    location: str
    done: Any  # callable run once when the operation succeeds
    polls: int = 0
    status: str = "InProgress"
    error: dict | None = None


def arm_error(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


class FakeAzure:
    """State of one fake tenant/subscription, and the servers that expose it."""

    tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    client_id = "8c3a1f4e-1c5d-4b7a-9f6e-2a1b3c4d5e6f"
    client_secret = "fake-sp-secret-Q7w~9xZ"
    subscription_id = "00000000-0000-0000-0000-0000000000aa"

    def __init__(self, pki: TestPki, kubeconfig: str = ""):
        self.pki = pki
        self.kubeconfig = kubeconfig
        # What listClusterUserCredential answers (the admin kubeconfig when empty).
        self.user_kubeconfig = ""
        self.lock = threading.RLock()
        self.apps: dict[tuple[str, str], str] = {
            (self.tenant_id, self.client_id): self.client_secret
        }
        self.actions: dict[str, list[str]] = {self.client_id: CONTRIBUTOR}
        self.tokens: dict[str, str] = {}
        self.resources: dict[str, dict] = {}
        self.providers: dict[str, str] = {ns: "Registered" for ns in PROVIDERS}
        self.registering_polls = 2  # GETs a provider stays Registering after register
        self._registering: dict[str, int] = {}
        self.operations: dict[str, Operation] = {}
        self.polls_to_finish = 3
        self.hold = threading.Event()  # while set, operations stay InProgress
        self.fail_next_operation: dict | None = None
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, int]] = []
        self.storage_keys: dict[str, str] = {}
        self.files: dict[str, dict[str, dict[str, bytes]]] = {}  # account -> share -> path
        self.files_url = ""  # the Azure Files data plane, path-style (like Azurite)
        self.servers: list[ThreadingHTTPServer] = []
        self._caller = ""

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeAzure:
        self.server = _serve(self, "arm", self.pki)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        files = _serve(self, "files", self.pki)
        self.files_url = f"https://127.0.0.1:{files.server_address[1]}"
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()

    # -- scripting helpers for tests -----------------------------------------------------------
    def add_fault(self, method: str, path: str, status: int, **kwargs) -> Fault:
        fault = Fault(method.upper(), path.lower(), status, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def requests(self, method: str, pattern: str) -> list[tuple[str, str, int]]:
        with self.lock:
            return [e for e in self.log if e[0] == method and re.search(pattern, e[1], re.I)]

    def resource(self, resource_id: str) -> dict | None:
        with self.lock:
            return copy.deepcopy(self.resources.get(resource_id.lower()))

    def group_id(self, group: str) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{group}"

    # -- request handling ----------------------------------------------------------------------
    def handle(self, req: BaseHTTPRequestHandler) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(req.path)
        path, query = parts.path, parse_qs(parts.query)
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        if "/oauth2/" in path or "/.well-known/" in path:
            return self._entra(req.command, path, raw)
        client = self.tokens.get(req.headers.get("Authorization", "").removeprefix("Bearer "))
        if client is None:
            return 401, arm_error("InvalidAuthenticationToken", "The access token is invalid."), {}
        with self.lock:
            for fault in self.faults:
                if (
                    fault.times
                    and fault.method == req.command
                    and re.search(fault.path, path.lower())
                ):
                    fault.times -= 1
                    return fault.status, fault.body, fault.headers
        body = json.loads(raw) if raw else {}
        if not self._allowed(client, req.command, path):
            action = "write" if req.command in ("PUT", "POST", "PATCH") else "read"
            action = "delete" if req.command == "DELETE" else action
            scope = path.split("/providers/Microsoft.Authorization")[0]
            message = (
                f"The client '{client}' with object id '{client}' does not have authorization to "
                f"perform action '{_action_name(path, action)}' over scope '{scope}' or the "
                "scope is invalid. If access was recently granted, please refresh your credentials."
            )
            return 403, arm_error("AuthorizationFailed", message), {}
        with self.lock:
            self._caller = client
            return self._arm(req.command, path, query, body)

    def _allowed(self, client: str, method: str, path: str) -> bool:
        actions = self.actions.get(client, [])
        if "*" in actions:
            return True
        read_only = method in ("GET", "HEAD") or path.lower().endswith("/permissions")
        return read_only and "*/read" in actions

    def _entra(self, method: str, path: str, raw: bytes) -> tuple[int, Any, dict]:
        tenant = path.strip("/").split("/")[0]
        if tenant not in {t for t, _ in self.apps}:
            return (
                400,
                {
                    "error": "invalid_tenant",
                    "error_description": f"AADSTS90002: Tenant '{tenant}' not found. Check to make "
                    "sure you have the correct tenant ID and are signing into the correct cloud.",
                    "error_codes": [90002],
                },
                {},
            )
        if path.endswith("/.well-known/openid-configuration"):
            base = f"{self.url}/{tenant}"
            return (
                200,
                {
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "issuer": f"{base}/v2.0",
                    "token_endpoint_auth_methods_supported": ["client_secret_post"],
                },
                {},
            )
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        client_id = form.get("client_id", "")
        if (tenant, client_id) not in self.apps:
            return (
                400,
                {
                    "error": "unauthorized_client",
                    "error_description": f"AADSTS700016: Application with identifier '{client_id}' "
                    f"was not found in the directory '{tenant}'.",
                    "error_codes": [700016],
                },
                {},
            )
        if form.get("client_secret") != self.apps[(tenant, client_id)]:
            return (
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the "
                    "secret being sent in the request is the client secret value, not the client "
                    f"secret ID, for a secret added to app '{client_id}'.",
                    "error_codes": [7000215],
                },
                {},
            )
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = client_id
        body = {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
        return 200, body, {}

    # -- Resource Manager ----------------------------------------------------------------------
    def _arm(self, method: str, path: str, query: dict, body: dict) -> tuple[int, Any, dict]:
        sub = f"/subscriptions/{self.subscription_id}".lower()
        low = path.lower()
        if not low.startswith(sub):
            return 404, arm_error("SubscriptionNotFound", "The subscription was not found."), {}
        rest = low[len(sub) :]
        if rest == "/resourcegroups" and method == "GET":
            groups = [r for k, r in self.resources.items() if k.count("/") == 4]
            return 200, {"value": groups}, {}
        if m := re.fullmatch(r"/resourcegroups/([^/]+)", rest):
            return self._group(method, path.split("/")[4], body)
        if m := re.fullmatch(r"/providers/([^/]+)(/register)?", rest):
            return self._provider(path.split("/")[4], bool(m.group(2)))
        if m := re.fullmatch(r"/providers/([^/]+)/locations/([^/]+)/(operations|operationresults|asyncoperations)/([^/]+)", rest):  # fmt: skip
            return self._operation(m.group(4), m.group(3))
        if re.fullmatch(r"/providers/microsoft.containerservice/locations/[^/]+/kubernetesversions", rest):  # fmt: skip
            return 200, example("containerservice/KubernetesVersions_List.json"), {}
        if m := re.fullmatch(r"/resourcegroups/([^/]+)/providers/microsoft.authorization/permissions", rest):  # fmt: skip
            if self.group_id(m.group(1)).lower() not in self.resources:
                return 404, _group_not_found(m.group(1)), {}
            actions = self.actions.get(self._caller, [])
            return 200, {"value": [{"actions": actions, "notActions": []}]}, {}
        if m := re.fullmatch(r"/resourcegroups/([^/]+)/providers/([^/]+)/(.+)", rest):
            original = path.split("/")
            return self._resource(method, original[4], original[6], original[7:], body)
        return 404, arm_error("NotFound", f"No fake route for {method} {path}"), {}

    def _group(self, method: str, name: str, body: dict) -> tuple[int, Any, dict]:
        key = self.group_id(name).lower()
        if method in ("GET", "HEAD"):
            found = self.resources.get(key)
            if not found:
                return 404, _group_not_found(name), {}
            return (204, None, {}) if method == "HEAD" else (200, found, {})  # CheckExistence
        if method == "PUT":
            status = "200" if key in self.resources else "201"
            group = example("resources/CreateResourceGroup.json", status)
            group.update(id=self.group_id(name), name=name, location=body.get("location"))
            group["tags"] = body.get("tags", {})
            self.resources[key] = group
            return int(status), group, {}
        return 405, arm_error("MethodNotAllowed", method), {}

    def _provider(self, namespace: str, register: bool) -> tuple[int, Any, dict]:
        known = {ns.lower(): ns for ns in self.providers}
        ns = known.get(namespace.lower(), namespace)
        state = self.providers.setdefault(ns, "NotRegistered")
        if register and state == "NotRegistered":
            self.providers[ns] = "Registering"
            self._registering[ns] = self.registering_polls
        elif not register and state == "Registering":
            self._registering[ns] -= 1
            if self._registering[ns] <= 0:
                self.providers[ns] = "Registered"
        body = example("resources/GetProvider.json")
        body.update(
            id=f"/subscriptions/{self.subscription_id}/providers/{ns}",
            namespace=ns,
            registrationState=self.providers[ns],
        )
        return 200, body, {}

    def _operation(self, op_id: str, kind: str) -> tuple[int, Any, dict]:
        op = self.operations.get(op_id)
        if op is None:
            return 404, arm_error("NotFound", "Operation not found"), {}
        if op.status == "InProgress" and not self.hold.is_set():
            op.polls += 1
            if op.polls >= self.polls_to_finish:
                if self.fail_next_operation:
                    op.status, op.error = "Failed", self.fail_next_operation
                    self.fail_next_operation = None
                else:
                    op.status = "Succeeded"
                    op.done()
        if kind != "operations":  # Location polling: 202 while running, then the resource
            if op.status == "InProgress":
                return 202, None, {"Location": self._op_url(op, "operationresults")}
            return 200, self.resources.get(op.resource_id), {}
        percent = min(99, op.polls * 100 // self.polls_to_finish)
        body = {"id": op_id, "name": op_id, "status": op.status, "percentComplete": percent}
        if op.status == "Succeeded":
            body["percentComplete"] = 100
        if op.error:
            body["error"] = op.error
        return 200, body, {}

    def _op_url(self, op: Operation, kind: str = "operations") -> str:
        return (
            f"{self.url}/subscriptions/{self.subscription_id}/providers/{op.namespace}/locations/"
            f"{op.location}/{kind}/{op.id}?api-version=2025-01-01"
        )

    def _start_operation(self, resource_id: str, namespace: str, done) -> Operation:
        """One running operation per resource: a repeated PUT joins the running one."""
        for op in self.operations.values():
            if op.resource_id == resource_id and op.status == "InProgress":
                return op
        location = (self.resources.get(resource_id) or {}).get("location") or "eastus"
        op = Operation(uuid.uuid4().hex, resource_id, namespace, location, done)
        self.operations[op.id] = op
        return op

    def _resource(self, method, group, namespace, segments, body) -> tuple[int, Any, dict]:
        from tests.fakes import azure_resources

        if self.group_id(group).lower() not in self.resources:
            return 404, _group_not_found(group), {}
        return azure_resources.handle(self, method, group, namespace, segments, body)


def _action_name(path: str, verb: str) -> str:
    match = re.search(r"/providers/([^/]+)/([^/]+)", path)
    if match:
        return f"{match.group(1)}/{match.group(2)}/{verb}"
    return f"Microsoft.Resources/subscriptions/resourcegroups/{verb}"


def _group_not_found(name: str) -> dict:
    return arm_error("ResourceGroupNotFound", f"Resource group '{name}' could not be found.")


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeAzure/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def _dispatch(self) -> None:
        fake = self.server.fake  # type: ignore[attr-defined]
        if self.server.role == "files":  # type: ignore[attr-defined]
            from tests.fakes.azure_files import handle_files

            status, payload, headers = handle_files(fake, self)
        else:
            status, payload, headers = fake.handle(self)
        with fake.lock:
            fake.log.append((self.command, urlsplit(self.path).path, status))
        if isinstance(payload, bytes | str):
            data = payload.encode() if isinstance(payload, str) else payload
            headers.setdefault("Content-Type", "application/xml")
        else:
            data = json.dumps(payload).encode() if payload is not None else b""
            if data:
                headers.setdefault("Content-Type", "application/json; charset=utf-8")
        self.send_response(status)
        head_length = headers.pop("Content-Length-Override", "0")
        headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header(
            "Content-Length", str(len(data)) if self.command != "HEAD" else head_length
        )
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _dispatch


def _serve(fake: FakeAzure, role: str, pki: TestPki) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert, pki.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.fake = fake  # type: ignore[attr-defined]
    server.role = role  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True, name=f"fake-azure-{role}").start()
    fake.servers.append(server)
    return server


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
