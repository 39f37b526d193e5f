"""Websocket authentication: the same identities as pages (session) and the API (token).

Browsers always send an `Origin` header and carry the session cookie, so a session is honoured
only when the Origin is one of ours: a foreign page cannot ride a user's cookie (cross-site
websocket hijacking). Scripts send no Origin and authenticate with an API token, given either
as the subprotocol `token.<token>` (next to `controlpanel`, which the server selects), as
`Authorization: Token <token>`, or as `?token=<token>`. A foreign Origin is refused outright.

Also what both live sockets share: the access checks, and what keeps them open while Redis or
the database restarts (`LayerOutageMixin`, `outlives_database_outage`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from urllib.parse import parse_qs, urlsplit

from asgiref.sync import async_to_sync
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import InterfaceError, OperationalError, transaction
from django.http.request import split_domain_port, validate_host
from redis.exceptions import RedisError

from core.choices import Role
from core.selectors import has_role, token_get_active

logger = logging.getLogger(__name__)
SUBPROTOCOL = "controlpanel"
TOKEN_PREFIX = "token."


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _origin_parts(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) origin, the port filled in; None when malformed."""
    parsed = urlsplit(origin)
    try:
        port = parsed.port
    except ValueError:
        return None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return None
    return parsed.scheme, parsed.hostname, port or (443 if parsed.scheme == "https" else 80)


def origin_allowed(origin: str, scope: dict) -> bool:
    """Django's CSRF rule, for sockets: the Origin is the panel's own scheme, host and port (the
    allowed host this socket was opened on), or one of CSRF_TRUSTED_ORIGINS. Another web
    application on the same host name but another port is someone else."""
    parts = _origin_parts(origin)
    if parts is None:
        return False
    trusted = {_origin_parts(item) for item in getattr(settings, "CSRF_TRUSTED_ORIGINS", [])}
    if parts in trusted:
        return True
    host = _header(scope, b"host")
    if not host:
        return False
    domain, _port = split_domain_port(host)
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    if not domain or not validate_host(domain, allowed):
        return False
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    return parts == _origin_parts(f"{scheme}://{host}")


def presented_token(scope: dict) -> str | None:
    """The API token a script presented, wherever it put it."""
    for protocol in scope.get("subprotocols", []):
        if protocol.startswith(TOKEN_PREFIX) and len(protocol) > len(TOKEN_PREFIX):
            return protocol[len(TOKEN_PREFIX) :]
    authorization = _header(scope, b"authorization") or ""
    if authorization.lower().startswith("token "):
        return authorization[6:].strip()
    return query_param(scope, "token")


@database_sync_to_async
def _token_user(token: str):
    row = token_get_active(token)
    return row.user if row is not None else None


@database_sync_to_async
def _with_profile(user):
    """The session's user with its profile loaded, so role checks need no query in async code."""
    if not user.is_authenticated:
        return user
    return refreshed_user(user) or AnonymousUser()


class _TokenOrSession:
    """Runs after the session middleware: a token wins; a session counts only with our Origin."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        token = presented_token(scope)
        if token:
            user = await _token_user(token)
            scope["user"] = user if user is not None else AnonymousUser()
            scope["auth_method"] = "token"
        elif _header(scope, b"origin") is None:
            # No Origin: not a browser, so a cookie alone is not proof of intent.
            scope["user"] = AnonymousUser()
            scope["auth_method"] = "none"
        else:
            scope["user"] = await _with_profile(scope["user"])
            scope["auth_method"] = "session"
        # Browsers refuse a connection whose accepted subprotocol they did not offer.
        offered = scope.get("subprotocols", [])
        scope["ws_subprotocol"] = SUBPROTOCOL if SUBPROTOCOL in offered else None
        return await self.inner(scope, receive, send)


class WebsocketAuthMiddleware:
    """Refuse foreign origins, then resolve the user from a token or the session."""

    def __init__(self, inner):
        self.stack = AuthMiddlewareStack(_TokenOrSession(inner))

    async def __call__(self, scope, receive, send):
        origin = _header(scope, b"origin")
        if origin is not None and not origin_allowed(origin, scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.stack(scope, receive, send)


# -- access of the live sockets (run logs, camera frames) ------------------------------------
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# How often a long-lived socket re-checks that its user may still watch.
RECHECK_S = 5.0


def user_group(user_id: int) -> str:
    """Every live socket of one user listens here for `access.changed`."""
    return f"user-{user_id}"


def access_changed_announce(user_ids) -> None:
    """Once the current transaction commits, tell the users' open sockets to re-check what they
    may watch (a role, a deactivation, a group left): cut off at once, not at the next
    periodic re-check."""
    groups = [user_group(user_id) for user_id in sorted(set(user_ids))]

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            for group in groups:
                async_to_sync(layer.group_send)(group, {"type": "access.changed"})
        except Exception as exc:  # noqa: BLE001 - best effort: the periodic re-check catches it
            logger.warning("could not tell open sockets of an access change: %s", exc)

    if groups:
        transaction.on_commit(send)


def query_param(scope: dict, name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else None


def refreshed_user(user):
    """The user as the database has it now (role changes, deactivation), or None."""
    if user is None or not user.is_authenticated:
        return None
    return get_user_model().objects.select_related("profile").filter(pk=user.pk).first()


def can_view(user) -> bool:
    """Watching logs and cameras is reading: the same rule as pages and the API (viewer+)."""
    return has_role(user, Role.VIEWER)


def connect_refusal(user) -> int | None:
    """The close code for a socket whose user (from the scope) may not watch at all, or None."""
    if user is None or not user.is_authenticated:
        return CLOSE_UNAUTHENTICATED
    if not can_view(user):
        return CLOSE_FORBIDDEN
    return None


def access_verdict(user, watched) -> int | None:
    """The close code for a watcher who may no longer watch `watched` (a queryset of the one
    object), or None while they may."""
    user = refreshed_user(user)
    if user is None or not user.is_active:
        return CLOSE_UNAUTHENTICATED
    if not can_view(user):
        return CLOSE_FORBIDDEN
    if not watched.exists():
        return CLOSE_NOT_FOUND
    return None


# -- outages: the database or Redis restarting under a live socket --------------------------
# What a query raises while the database is away (restarting, unreachable).
DATABASE_ERRORS = (OperationalError, InterfaceError)


def outlives_database_outage(handler):
    """For a live socket's handlers and periodic checks: a query that fails because the
    database is away skips this turn instead of ending the socket (close 1011). The next turn
    reconnects (Django's health check) and catches up from the database."""

    @functools.wraps(handler)
    async def wrapper(*args, **kwargs):
        try:
            return await handler(*args, **kwargs)
        except DATABASE_ERRORS as exc:
            logger.warning("database unreachable (%s); the socket waits for it", exc)
            return None

    return wrapper


# What a channel-layer call raises while Redis is away (refused, reset, timed out).
LAYER_ERRORS = (RedisError, OSError)
LAYER_JOIN_TIMEOUT_S = 2.0
LAYER_RETRY_S = (0.5, 2.0)  # first and longest wait between attempts to reach Redis again


class LayerOutageMixin:
    """A live socket that outlives a Redis restart.

    Channels ends a consumer (close 1011) when its channel-layer receive fails, and a failed
    `group_add` in `connect` answers the handshake with HTTP 500: a Redis restart closed every
    camera and log socket, and refused new ones until Redis answered again. Here the socket is
    accepted either way. While Redis is away the layer is retried with backoff; once it answers,
    the groups are joined again (a restarted Redis has forgotten them). The consumer hears of
    both through the handlers `layer_lost` and `layer_restored`, dispatched like channel-layer
    messages, so it can tell the viewer and catch up from the database.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.layer_groups: tuple[str, ...] = ()
        self.layer_down = False
        self._layer_news: dict | None = None
        self._accepted = asyncio.Event()
        self._layer_receive = None

    # Channels assigns the layer's receive to `channel_receive` when the consumer starts, and
    # then reads it back to feed the dispatch loop: the loop gets the outage-aware one.
    @property
    def channel_receive(self):
        return self._receive_from_layer

    @channel_receive.setter
    def channel_receive(self, receive) -> None:
        self._layer_receive = receive

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol, headers)
        self._accepted.set()

    async def join_groups(self, *groups: str) -> None:
        """Join the groups now if Redis answers promptly, else as soon as it does."""
        self.layer_groups = groups
        try:
            async with asyncio.timeout(LAYER_JOIN_TIMEOUT_S):
                for group in groups:
                    await self.channel_layer.group_add(group, self.channel_name)
        except (*LAYER_ERRORS, TimeoutError) as exc:
            self._layer_news = self._went_down(exc)

    async def leave_groups(self) -> None:
        for group in self.layer_groups:
            with contextlib.suppress(*LAYER_ERRORS):
                await self.channel_layer.group_discard(group, self.channel_name)
        self.layer_groups = ()

    async def layer_lost(self, message: dict) -> None:
        """Redis is unreachable: group messages stop until `layer_restored`."""

    async def layer_restored(self, message: dict) -> None:
        """Redis answers again and the groups are joined: anything sent meanwhile was lost."""

    def _went_down(self, exc: BaseException) -> dict:
        self.layer_down = True
        logger.warning("channel layer unreachable (%s); retrying", exc or type(exc).__name__)
        return {"type": "layer.lost", "detail": "The message broker (Redis) is unreachable."}

    async def _receive_from_layer(self) -> dict:
        # Nothing to send on before the socket is accepted (and nobody knows the channel yet).
        await self._accepted.wait()
        if self._layer_news is not None:
            news, self._layer_news = self._layer_news, None
            return news
        wait = LAYER_RETRY_S[0]
        while True:
            try:
                if not self.layer_down:
                    return await self._layer_receive()
                for group in self.layer_groups:
                    await self.channel_layer.group_add(group, self.channel_name)
                self.layer_down = False
                logger.info("channel layer reachable again; groups joined")
                return {"type": "layer.restored"}
            except LAYER_ERRORS as exc:
                if not self.layer_down:
                    return self._went_down(exc)
            await asyncio.sleep(wait)
            wait = min(wait * 2, LAYER_RETRY_S[1])
