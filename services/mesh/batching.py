"""Calls that arrive close together made as one: a short window gathers them, one call of the
batch form serves them all, and each caller gets its own answer.

A batch form that fails as a whole (one refused item fails all, as BatchPutContent does) is no
one's verdict: every item is then called alone, so each meets only its own error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

I = TypeVar("I")  # noqa: E741 - the item type
O = TypeVar("O")  # noqa: E741 - the answer type


class CallBatcher(Generic[I, O]):
    """Gathers `call(item)`s made within `window_s` of the first (or until `max_items`) into
    one `call_many(items)`, which answers in the items' order (an exception in place of an
    answer fails that item's call alone). With `window_s` 0 a group is what one turn of the
    event loop brought."""

    def __init__(
        self,
        call_many: Callable[[Sequence[I]], Awaitable[Sequence[O | BaseException]]],
        *,
        window_s: float,
        max_items: int,
    ) -> None:
        self._call_many = call_many
        self._window_s = window_s
        self._max_items = max_items
        self._waiting: list[tuple[I, asyncio.Future[O]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def call(self, item: I) -> O:
        """The answer for `item`, made with the others of its window."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[O] = loop.create_future()
        self._waiting.append((item, answer))
        if len(self._waiting) >= self._max_items:
            self._start()
        elif self._timer is None:
            self._timer = loop.call_later(self._window_s, self._start)
        return await answer

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        group, self._waiting = self._waiting, []
        if group:
            task = asyncio.create_task(self._run(group))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, group: list[tuple[I, asyncio.Future[O]]]) -> None:
        group = [(item, answer) for item, answer in group if not answer.done()]
        if not group:
            return
        answers = await self._answers([item for item, _ in group])
        for (_, answer), result in zip(group, answers, strict=True):
            if answer.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, BaseException):
                answer.set_exception(result)
            else:
                answer.set_result(result)

    async def _answers(self, items: list[I]) -> Sequence[O | BaseException]:
        try:
            answers = await self._call_many(items)
        except Exception as error:
            if len(items) == 1:
                return [error]
            log.info("a batch of %d calls failed (%r); calling each alone", len(items), error)
        else:
            return answers
        alone = await asyncio.gather(
            *(self._call_many([item]) for item in items), return_exceptions=True
        )
        return [a if isinstance(a, BaseException) else a[0] for a in alone]
