"""The channel layer as the settings configure it, against the session's real Redis."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = [pytest.mark.live]


def test_an_idle_receive_outlasts_the_blocking_pop_without_a_redis_timeout():
    """channels-redis waits for messages with a 5 s blocking pop; redis-py 8 gives up reading
    a socket after 5 s by default, so an idle socket's receive (and the one still pending when
    a socket closes) ended in "Timeout reading from 127.0.0.1:6379" after about 5 s. With the
    layer's read timeout above the pop's, an idle receive simply goes on waiting, then gets
    the message that comes."""
    from channels.layers import get_channel_layer

    async def scenario() -> dict:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        waiting = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(layer.brpop_timeout + 2)  # past one whole blocking pop
        assert not waiting.done(), waiting.exception()
        await layer.send(channel, {"type": "hello"})
        message = await asyncio.wait_for(waiting, 5)
        await layer.flush()
        return message

    assert asyncio.run(scenario()) == {"type": "hello"}
