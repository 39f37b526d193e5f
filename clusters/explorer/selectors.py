"""Reads of the explorer: pages of objects, one object with its conditions, events and pods.

Names a user types (namespace, object name, label selector) are checked here before they are
put in a request path; an unknown kind is a 404, never a request."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from clusters.explorer.client import (
    PAGE_DEFAULT,
    ExplorerError,
    Forbidden,
    NotFound,
    Session,
    connect,
)
from clusters.explorer.kinds import KINDS, WITH_POD_SELECTOR, Kind, served
from clusters.explorer.redact import as_yaml, redact
from clusters.explorer.rows import row
from clusters.models import Cluster

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
# Label selector syntax: keys, values, =, ==, !=, in (...), notin (...), !key, commas.
LABEL_SELECTOR = re.compile(r"^[A-Za-z0-9_./=!,()\s-]*$")
LABEL_SELECTOR_MAX = 500
ALL_NAMESPACES = ""


class BadInput(ExplorerError):
    """A name or selector the user gave is not valid; `field` names it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message, status=400)
        self.field = field_name


def kind_for(slug: str) -> Kind:
    kind = KINDS.get(slug)
    if kind is None:
        raise NotFound(f"The kind {slug!r}")
    return kind


def clean_namespace(value: str | None) -> str:
    value = (value or "").strip()
    if value and (len(value) > 63 or not DNS_LABEL.match(value)):
        raise BadInput("namespace", f"{value[:70]!r} is not a namespace name (DNS-1123 label).")
    return value


def clean_name(value: str) -> str:
    if len(value) > 253 or not DNS_SUBDOMAIN.match(value):
        raise BadInput("name", f"{value[:70]!r} is not an object name (DNS-1123 subdomain).")
    return value


def clean_labels(value: str | None) -> str:
    value = (value or "").strip()
    if len(value) > LABEL_SELECTOR_MAX or not LABEL_SELECTOR.match(value):
        raise BadInput(
            "label",
            "Not a label selector: use key=value, key!=value, key in (a,b) or key, "
            f"separated by commas, at most {LABEL_SELECTOR_MAX} characters.",
        )
    return value


@dataclass
class Listing:
    """A page of rows, or why there are none: refused (403), not served by this version."""

    kind: Kind
    namespace: str
    labels: str = ""
    rows: list[dict] = field(default_factory=list)
    next: str = ""
    remaining: int | None = None
    forbidden: str = ""
    not_served: str = ""


def not_served_message(kind: Kind, version: str) -> str:
    return (
        f"{kind.label} are not shown: this API server ({version}) does not serve "
        f"{kind.api_version} {kind.label} (Kubernetes 1.{kind.min_minor} and later)."
    )


def _events_page(session: Session, namespace: str | None, labels: str, limit: int, token: str):
    """Warnings first, then the rest: two filtered lists, one continue token across both
    (`w:`/`n:` says which list it continues)."""
    kind = KINDS["events"]
    phase, _, inner = token.partition(":") if token else ("w", "", "")
    items, next_token, remaining = [], "", None
    if phase == "w":
        page = session.list(
            kind, namespace or None, labels=labels, fields="type=Warning", limit=limit, token=inner
        )
        items, remaining = page.items, page.remaining
        if page.next:
            return items, f"w:{page.next}", remaining
        inner = ""
    room = limit - len(items)
    if room <= 0:
        return items, "n:", remaining
    page = session.list(
        kind, namespace or None, labels=labels, fields="type!=Warning", limit=room, token=inner
    )
    if page.next:
        next_token = f"n:{page.next}"
    return items + page.items, next_token, page.remaining


def object_list(
    cluster: Cluster,
    slug: str,
    *,
    namespace: str = ALL_NAMESPACES,
    labels: str = "",
    limit: int = PAGE_DEFAULT,
    token: str = "",
    session: Session | None = None,
) -> Listing:
    """One page of a kind in a namespace (or all): rows, or the reason there are none."""
    kind = kind_for(slug)
    namespace = clean_namespace(namespace) if kind.namespaced else ""
    labels = clean_labels(labels)
    listing = Listing(kind=kind, namespace=namespace, labels=labels)
    if not served(kind, cluster.version):
        listing.not_served = not_served_message(kind, cluster.version)
        return listing
    if token and (len(token) > 4096 or not token.isprintable()):
        raise BadInput("continue", "Not a continue token from this list; start from page one.")
    if session is None:
        with connect(cluster) as own:
            return object_list(
                cluster, slug, namespace=namespace, labels=labels, limit=limit, token=token,
                session=own,
            )  # fmt: skip
    try:
        if slug == "events":
            items, listing.next, listing.remaining = _events_page(
                session, namespace, labels, limit, token
            )
        else:
            page = session.list(kind, namespace or None, labels=labels, limit=limit, token=token)
            items, listing.next, listing.remaining = page.items, page.next, page.remaining
    except Forbidden as exc:
        listing.forbidden = exc.message
        return listing
    listing.rows = [row(slug, item) for item in items]
    return listing


def pod_selector(obj: dict, slug: str) -> str:
    """The label selector of an object's pods ('' when it has none)."""
    spec = obj.get("spec") or {}
    if slug == "services":
        selector = spec.get("selector") or {}
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    selector = spec.get("selector") or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(expression.get("values") or [])
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
             "Exists": key, "DoesNotExist": f"!{key}"}.get(operator, key)
        )  # fmt: skip
    return ",".join(parts)


@dataclass
class Detail:
    kind: Kind
    namespace: str
    name: str
    row: dict
    yaml: str
    managed_fields_yaml: str
    conditions: list[dict]
    events: Listing | None = None
    pods: Listing | None = None
    obj: dict = field(default_factory=dict, repr=False)


def object_detail(cluster: Cluster, slug: str, namespace: str, name: str) -> Detail:
    """One object, redacted, with its conditions, its events (warnings first) and its pods."""
    kind = kind_for(slug)
    namespace = clean_namespace(namespace) if kind.namespaced else ""
    name = clean_name(name)
    if kind.namespaced and not namespace:
        raise BadInput("namespace", "A namespaced object needs its namespace.")
    with connect(cluster) as session:
        raw = session.get(kind, namespace or None, name)
        raw.setdefault("kind", kind.kind)
        raw.setdefault("apiVersion", kind.api_version)
        shown, managed = redact(raw, kind.kind)
        conditions = (raw.get("status") or {}).get("conditions") or []
        events = None
        if slug != "events":
            fields = f"involvedObject.name={name},involvedObject.kind={kind.kind}"
            events = _related_events(session, cluster, namespace, fields)
        pods = None
        selector = pod_selector(raw, slug) if slug in WITH_POD_SELECTOR else ""
        if selector:
            pods = object_list(
                cluster, "pods", namespace=namespace, labels=selector, session=session
            )
    return Detail(
        kind=kind,
        namespace=namespace,
        name=name,
        row=row(slug, raw),
        yaml=as_yaml(shown),
        managed_fields_yaml=as_yaml(managed) if managed else "",
        conditions=[_condition(c) for c in conditions],
        events=events,
        pods=pods,
        obj=shown,
    )


def _related_events(session: Session, cluster: Cluster, namespace: str, fields: str) -> Listing:
    listing = Listing(kind=KINDS["events"], namespace=namespace)
    try:
        page = session.list(KINDS["events"], namespace or None, fields=fields, limit=PAGE_DEFAULT)
    except Forbidden as exc:
        listing.forbidden = exc.message
        return listing
    rows = [row("events", item) for item in page.items]
    rows.sort(key=lambda r: r["type"] != "Warning")
    listing.rows, listing.next = rows, page.next
    return listing


def _condition(condition: dict) -> dict:
    return {
        "type": condition.get("type", ""),
        "status": condition.get("status", ""),
        "reason": condition.get("reason", ""),
        "message": condition.get("message", ""),
        "last_transition": condition.get("lastTransitionTime", ""),
    }
