"""Which back-end takes a call: the one with the fewest calls in flight from every processor,
so two back-ends share the work instead of one idling while calls queue on the other."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from contextlib import ExitStack

import pytest

from faces.backend import CALL_COUNTED_S, Endpoint, _inflight_key, least_busy
from faces.backend import redis_client as _redis

pytestmark = [pytest.mark.faces]


@pytest.fixture
def endpoints(redis_url):
    tag = uuid.uuid4().hex[:8]
    found = [Endpoint(f"run-{tag}-serve-{n}", f"http://127.0.0.1:{9000 + n}") for n in range(2)]
    yield found
    for endpoint in found:
        _redis().delete(_inflight_key(endpoint))


def test_calls_in_flight_are_spread_over_the_back_ends(endpoints):
    """Four processors calling at once: two calls on each back-end, never three on one."""
    for _ in range(20):
        with ExitStack() as calls:
            taken = Counter(calls.enter_context(least_busy(endpoints)).name for _ in range(4))
        assert sorted(taken.values()) == [2, 2]
    assert all(_redis().zcard(_inflight_key(e)) == 0 for e in endpoints)  # all given back


def test_a_call_whose_processor_died_stops_counting(endpoints):
    """A processor SIGKILLed mid-call never takes its call off the count: after the longest a
    call may last it no longer makes its back-end look busy."""
    busy, idle = endpoints
    dead = time.time() - CALL_COUNTED_S - 1
    _redis().zadd(_inflight_key(busy), {"killed-1": dead, "killed-2": dead})
    _redis().zadd(_inflight_key(idle), {"running": time.time()})
    with least_busy(endpoints) as chosen:
        assert chosen == busy
    assert _redis().zcard(_inflight_key(busy)) == 0


def test_an_error_in_the_call_gives_the_back_end_back(endpoints):
    with pytest.raises(RuntimeError), least_busy(endpoints) as chosen:
        assert _redis().zcard(_inflight_key(chosen)) == 1
        raise RuntimeError("the back-end hung up")
    assert _redis().zcard(_inflight_key(chosen)) == 0
