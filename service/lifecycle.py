"""Graceful drain on SIGTERM/SIGINT: readiness goes 503 first, then in-flight work finishes, then exit.

Sequence (times from settings): on the first signal the service starts *draining* — /readyz
answers 503 so load balancers stop routing here, and new scoring requests get 503 with
Retry-After while the socket stays open (a refused connection would be worse for clients
mid-retry). After `drain_delay_s`, as soon as no request is in flight (or `drain_timeout_s`
later at most) the listening socket closes (new connections are refused), connections already
open get up to `LAST_CALL_S` to send their request and take their 503 (a request that had
reached the server is answered, never cut), then uvicorn runs its normal shutdown. A second
SIGINT forces exit. Kubernetes: terminationGracePeriodSeconds must exceed drain_delay_s + drain_timeout_s.
"""

from __future__ import annotations

import logging
import signal
import time

import uvicorn

log = logging.getLogger("taosr1.lifecycle")

#: after the listening socket closes, seconds open connections get to be answered before exit
LAST_CALL_S = 1.0


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service, drain_delay_s: float, drain_timeout_s: float):
        super().__init__(config)
        self.service = service
        self.drain_delay_s = drain_delay_s
        self.drain_timeout_s = drain_timeout_s
        self.drain_started: float | None = None
        self.stopped_accepting: float | None = None

    def handle_exit(self, sig: int, frame) -> None:
        if self.drain_started is None and sig in (signal.SIGTERM, signal.SIGINT):
            self.drain_started = time.monotonic()
            self.service.start_draining(f"signal {sig}")  # logs the one line
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_started is not None and not self.should_exit:
            now = time.monotonic()
            elapsed = now - self.drain_started
            idle = self.service.inflight == 0
            if self.stopped_accepting is None:
                if elapsed >= self.drain_delay_s and (idle or elapsed >= self.drain_delay_s + self.drain_timeout_s):
                    log.info("drain done after %.1fs (in flight: %d): no new connections", elapsed, self.service.inflight)
                    for server in self.servers:
                        server.close()
                    self.stopped_accepting = now
            elif not self.server_state.connections or now - self.stopped_accepting >= LAST_CALL_S:
                log.info("exiting (%d connections still open)", len(self.server_state.connections))
                self.should_exit = True
        return await super().on_tick(counter)
