"""The first-byte deadline (``proxy.upstream._Deadline``) behaves as ``asyncio.timeout``: a wait that outlives it
is a TimeoutError, a cancellation from outside (a client that left) stays a cancellation, and a wait that ends
in time is untouched."""

from __future__ import annotations

import asyncio

import pytest

from proxy.upstream import _Deadline


async def test_a_wait_past_the_deadline_is_a_timeout():
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        async with _Deadline(loop, 0.05):
            await asyncio.sleep(5)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_wait_that_ends_in_time_is_untouched():
    loop = asyncio.get_running_loop()
    async with _Deadline(loop, 1.0):
        await asyncio.sleep(0.01)
    await asyncio.sleep(1.1)  # the deadline's timer was cancelled: nothing is cancelled later


async def test_a_cancellation_from_outside_stays_a_cancellation():
    loop = asyncio.get_running_loop()
    entered = asyncio.Event()

    async def wait() -> None:
        async with _Deadline(loop, 5.0):
            entered.set()
            await asyncio.sleep(5)

    task = asyncio.create_task(wait())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_racing_the_deadline_stays_a_cancellation():
    """Both at once (the deadline fired and the client left): the outer cancellation wins, as with asyncio.timeout."""
    loop = asyncio.get_running_loop()

    async def wait() -> None:
        async with _Deadline(loop, 0.05):
            try:
                await asyncio.sleep(5)
            finally:
                asyncio.current_task().cancel()  # type: ignore[union-attr]  # a second cancel request, from outside

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(wait())
