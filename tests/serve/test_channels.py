"""The newest-item hand-over of ``rtpose serve``: a slow client gets the newest item and misses (counted) the rest,
while the publisher never waits and other clients get every item."""

from __future__ import annotations

import asyncio
import threading

from rtpose.serve.channels import Channel


def test_a_slow_client_gets_the_newest_item_and_its_misses_are_counted():
    async def scenario():
        channel = Channel(asyncio.get_running_loop())
        fast, slow = channel.subscribe(), channel.subscribe()
        got_fast = []

        async def fast_reader():
            while (item := await channel.next(fast)) is not None:
                got_fast.append(item)

        task = asyncio.create_task(fast_reader())
        for i in range(1, 11):  # from another thread, as the run loop does
            thread = threading.Thread(target=channel.publish, args=(i,))
            thread.start()
            thread.join()
            await asyncio.sleep(0.01)  # the fast reader takes each one
        assert channel.missed == 9  # the slow client has not read: everything but the newest is missed for it
        assert await channel.next(slow) == 10  # the newest, not the oldest
        assert slow.missed == 9 and slow.sent == 1
        channel.publish(11)
        channel.publish(12)
        assert await channel.next(slow) == 12 and slow.missed == 10
        channel.close()
        await task
        assert got_fast[0] == 1 and got_fast[:10] == list(range(1, 11))  # the fast one missed nothing
        assert await channel.next(slow) is None  # closed: every client ends
        channel.unsubscribe(slow)
        channel.unsubscribe(fast)
        return channel

    channel = asyncio.run(scenario())
    assert channel.subscribers == 0 and channel.missed == 10 + 1  # the fast client missed 11 when 12 came at once


def test_publish_never_waits_for_clients():
    async def scenario():
        channel = Channel(asyncio.get_running_loop())
        channel.subscribe()  # never reads
        for i in range(10000):
            channel.publish(i)
        return channel.latest()

    assert asyncio.run(scenario()) == (10000, 9999)
