"""One circuit breaker per back-end address, shared by every processor through Redis.

pybreaker keeps the state, the failure count and the opening time in Redis. What it does not
do, we add around it:
- Processors call only through a closed breaker (`allows_calls`). pybreaker would let every
  caller through once the wait is over; here exactly one probe runs (`probe`, from beat, under
  a Redis lock), so a back-end that is down sees one call per wait, whatever the number of
  processors.
- The wait grows: a failed probe doubles it, up to FACES_BREAKER_MAX_WAIT; a good one closes the
  breaker and resets it. The wait lives in Redis beside the state, so every process agrees.
- Every change of state is one log line and one audit entry, written by the process that made
  it (a GETSET in Redis picks exactly one when several notice the same change).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pybreaker
from django.conf import settings

from core.choices import AuditAction
from core.services import SYSTEM, audit_record
from faces.backend import Endpoint, ImageRejected, healthz
from faces.backend import redis_client as _redis
from faces.choices import BreakerState

logger = logging.getLogger(__name__)
PREFIX = "faces:breaker"


def _key(name: str, part: str) -> str:
    return f"{PREFIX}:{name}:{part}"


class _Storage(pybreaker.CircuitRedisStorage):
    def _initialize_redis_state(self, state: str) -> None:
        # A breaker is made per image and back-end: one round trip instead of pybreaker's three.
        pipe = self._redis.pipeline(transaction=False)
        for part, value in (("fail_counter", 0), ("success_counter", 0), ("state", state)):
            pipe.setnx(self._namespace(part), value)
        pipe.execute()


class Breaker(pybreaker.CircuitBreaker):
    def __init__(self, name: str):
        self.key_name = name
        storage = _Storage(pybreaker.STATE_CLOSED, _redis(), namespace=f"{PREFIX}:{name}")
        super().__init__(
            fail_max=settings.FACES_BREAKER_FAIL_MAX,
            reset_timeout=self.wait(),
            # An image the back-end cannot read says nothing about the back-end's health.
            exclude=[ImageRejected],
            state_storage=storage,
            name=name,
        )
        self._probing = False

    def call(self, func, *args, **kwargs):
        # Processors go through only a closed breaker. A call that passed `allows_calls` just
        # before another processor opened it must not become pybreaker's half-open trial (its
        # opening time is stored in whole seconds, so a short wait may look over): only `probe`
        # tries an open back-end, and only its failure doubles the wait.
        if not self._probing and self.current_state != pybreaker.STATE_CLOSED:
            raise pybreaker.CircuitBreakerError("circuit open: waiting for the next probe")
        return super().call(func, *args, **kwargs)

    def wait(self) -> float:
        stored = _redis().get(_key(self.key_name, "wait"))
        return float(stored) if stored else float(settings.FACES_BREAKER_WAIT)

    def _set_wait(self, seconds: float) -> None:
        _redis().set(_key(self.key_name, "wait"), seconds)
        self.reset_timeout = seconds

    def allows_calls(self) -> bool:
        return self.current_state == pybreaker.STATE_CLOSED

    def probe_due(self) -> bool:
        state = self.current_state
        if state != pybreaker.STATE_OPEN:
            return state == pybreaker.STATE_HALF_OPEN  # half-open: a probe died half-way
        opened_at = self._state_storage.opened_at
        return opened_at is None or time.time() >= opened_at.timestamp() + self.wait()

    def open(self) -> bool:
        previous = self._state_storage.state
        if previous == pybreaker.STATE_HALF_OPEN:
            self._set_wait(min(self.wait() * 2, float(settings.FACES_BREAKER_MAX_WAIT)))
        result = super().open()
        self._record(previous, pybreaker.STATE_OPEN)
        return result

    def half_open(self) -> None:
        if not self._probing:
            raise pybreaker.CircuitBreakerError("circuit open: waiting for the next probe")
        previous = self._state_storage.state
        super().half_open()
        self._record(previous, pybreaker.STATE_HALF_OPEN)

    def close(self) -> None:
        previous = self._state_storage.state
        super().close()
        self._set_wait(float(settings.FACES_BREAKER_WAIT))
        self._record(previous, pybreaker.STATE_CLOSED)

    def _record(self, previous: str, new: str) -> None:
        if _redis().getset(_key(self.key_name, "recorded"), new) == new.encode():
            return  # another processor has recorded this change already
        if new == pybreaker.STATE_OPEN:
            logger.warning(
                "face back-end %s: circuit opened after %s failed calls; no calls for %g s, "
                "then one probe of /healthz. Check the face-recognition-service run.",
                self.key_name, self.fail_counter, self.wait(),
            )  # fmt: skip
        else:
            logger.warning("face back-end %s: circuit %s -> %s", self.key_name, previous, new)
        audit_record(
            actor=SYSTEM, action=AuditAction.UPDATE, object_type="face-backend",
            object_repr=self.key_name, changes={"circuit": [previous, new]},
        )  # fmt: skip


def breaker_for(endpoint: Endpoint) -> Breaker:
    return Breaker(endpoint.name)


@dataclass
class BreakerStatus:
    name: str
    url: str
    state: str
    failures: int
    wait: float
    opened_at: float | None


def status_of(endpoint: Endpoint) -> BreakerStatus:
    breaker = breaker_for(endpoint)
    opened = breaker._state_storage.opened_at
    state = breaker.current_state
    return BreakerStatus(
        name=endpoint.name, url=endpoint.url if not endpoint.headers else "(API server proxy)",
        state=state, failures=breaker.fail_counter, wait=breaker.wait(),
        opened_at=opened.timestamp() if opened and state != BreakerState.CLOSED else None,
    )  # fmt: skip


def probe(endpoint: Endpoint) -> bool | None:
    """One /healthz call through an open breaker whose wait is over. True: closed again;
    False: still open (the wait doubled); None: nothing to do, or another process probes."""
    breaker = breaker_for(endpoint)
    if not breaker.probe_due():
        return None
    lock = _redis().set(_key(endpoint.name, "probe"), "1", nx=True, ex=30)
    if not lock:
        return None
    try:
        try:
            # The wait was checked above against the shared one; pybreaker's own check must not
            # disagree by its one-second rounding. Past it, pybreaker moves to half-open and
            # lets this one call through (a half-open breaker whose probe died lets it too).
            breaker.reset_timeout = 0
            breaker._probing = True
            breaker.call(healthz, endpoint)
        except Exception as exc:  # noqa: BLE001 - any failure of the probe keeps it open
            logger.info("face back-end %s: probe failed: %s", endpoint.name, exc)
            return False
        return True
    finally:
        breaker.reset_timeout = breaker.wait()
        _redis().delete(_key(endpoint.name, "probe"))
