"""The broker process: the STOMP listeners and master terms, for any store.

``serve_term`` is one master term: restore the recovered messages, open the connectors, run the
keep-alive watchers until a stop is requested or the fence is deposed, then end the term
(graceful: flush the store and close connections; deposed: confirm nothing more, abort
connections, drop the state). When a term starts and what deposes it is the business of the
master/slave lifecycle of the configured store (ha/), which the server is given and runs; a
broker with persistent="false" has no store and no lifecycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from harness.broker.config.activemq_xml import BrokerConfig, ConnectorConfig, JdbcStoreConfig, StoreConfig
from harness.broker.config.replicated_leveldb import ReplicatedStoreConfig
from harness.broker.core.broker import Broker, CoreSettings
from harness.broker.fence import Fence, always_valid
from harness.broker.message import Message
from harness.broker.stomp.protocol import ConnectionContext, StompConnection
from harness.broker.stomp.transport import StompTransport
from harness.broker.store.contract import UNLIMITED, DurableSubscriptionRecord, MessageStore, StoreLimits

_GRACEFUL_CLOSE_TIMEOUT = 2.0


class MasterSlave(Protocol):
    """One master/slave mode's lifecycle: wait as a slave, serve master terms; returns the exit status."""

    async def run(self) -> int: ...


MasterSlaveFor = Callable[["BrokerServer", StoreConfig | JdbcStoreConfig | ReplicatedStoreConfig], MasterSlave]
# What else runs while this broker is master, on the term's broker (the network's bridges); cancelled
# when the term ends.
TermServices = Callable[[Broker], Coroutine[Any, Any, None]]


class StartupError(Exception):
    """The broker cannot run with this configuration on this machine (e.g. a port in use)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class BrokerServer:
    def __init__(
        self,
        config: BrokerConfig,
        log: logging.Logger,
        master_slave: MasterSlaveFor,
        term_services: TermServices | None = None,
    ) -> None:
        """``master_slave`` makes the lifecycle of the configured store's master/slave mode (ha/);
        ``term_services`` runs beside each master term (network/)."""
        self.config = config
        self._term_services = term_services
        self._master_slave = master_slave
        self.log = log
        self.name = config.broker_name
        self._stop = asyncio.Event()
        self._listeners: list[asyncio.Server] = []
        self.role = "starting"
        self.term = 0
        self.settings = CoreSettings(
            policies=config.policies, redelivery=config.redelivery, scheduler_support=config.scheduler_support
        )

    def request_stop(self) -> None:
        if not self._stop.is_set():
            self.log.info("Shutdown requested")
            self._stop.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        for note in self.config.ignored:
            self.log.info("Ignoring configuration setting: %s", note)
        auth = self.config.authentication
        if auth is not None:
            self.log.info(
                "Authentication: simpleAuthenticationPlugin with %d user(s)%s",
                len(auth.users),
                ", anonymous access allowed" if auth.anonymous_access_allowed else "",
            )
        if self.config.redelivery is not None:
            self.log.info("Broker-side redelivery: redeliveryPlugin")
        await self._probe_ports()
        store = self.config.store
        if store is None:
            self.log.info('persistent="false": no store and no lock; messages are kept in memory only')
            await self._serve_memory_only()
            return 0
        return await self._master_slave(self, store).run()

    async def serve_term(
        self,
        term: int,
        store: MessageStore,
        messages: list[Message],
        fence: Fence,
        deposed: asyncio.Event,
        watchers: Sequence[Coroutine[Any, Any, None]] = (),
        subscriptions: Sequence[DurableSubscriptionRecord] = (),
        deposal_line: Callable[[str], str] | None = None,
        limits: StoreLimits = UNLIMITED,
    ) -> None:
        """Serve as master for one term: restore ``subscriptions`` and ``messages``, open the
        connectors, run ``watchers`` (keep-alive checks) until a stop is requested or the fence is
        deposed, then end the term.

        ``deposal_line`` words the ERROR logged when the term ends because the fence was deposed;
        ``limits`` is what the store can hold (the core refuses the rest before accepting it).
        """
        loop = asyncio.get_running_loop()
        self.term = term
        broker = Broker(self.name, term, store, fence.check, loop, self.settings, limits=limits)
        broker.restore(messages, subscriptions)
        if self._term_services is not None:
            watchers = [*watchers, self._term_services(broker)]
        ctx = self._context(broker, fence, f"ID:{self.name}-{term}")
        tasks: list[asyncio.Future[None]] = []
        try:
            if not fence.check():
                return
            await self._open_listeners(ctx)
            self.role = "master"
            self.log.info(
                "Broker %s is now master (epoch %d), accepting STOMP on %s",
                self.name,
                term,
                self._endpoints(),
            )
            tasks = [asyncio.ensure_future(watcher) for watcher in watchers]
            stop = asyncio.ensure_future(self._stop.wait())
            lost = asyncio.ensure_future(deposed.wait())
            await asyncio.wait({stop, lost}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            lost.cancel()
        finally:
            if not tasks:
                for watcher in watchers:
                    watcher.close()  # never started: no "coroutine was never awaited" warning
            for task in tasks:
                task.cancel()
            if fence.deposed:
                reason = fence.reason or "deposed"
                if deposal_line is None:
                    self.log.error(
                        "%s, no longer able to keep the exclusive lock so giving up being a master: %s",
                        self.name,
                        reason,
                    )
                else:
                    self.log.error("%s", deposal_line(reason))
                await self._end_term(ctx, store, graceful=False)
            else:
                await self._end_term(ctx, store, graceful=True)
            self.role = "stopped" if self._stop.is_set() else "slave"

    def _context(self, broker: Broker, fence: Fence, session_prefix: str) -> ConnectionContext:
        return ConnectionContext(
            broker,
            fence,
            self.log,
            session_prefix=session_prefix,
            authentication=self.config.authentication,
            scheduler_support=self.config.scheduler_support,
        )

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def stopped(self) -> None:
        """Return once a stop was requested."""
        await self._stop.wait()

    async def wait_stop(self, timeout: float) -> bool:
        """Sleep ``timeout`` seconds or until a stop is requested; True if one was."""
        if timeout > 0 and not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout)
        return self._stop.is_set()

    async def _end_term(self, ctx: ConnectionContext, journal: MessageStore | None, graceful: bool) -> None:
        listeners, self._listeners = self._listeners, []
        for server in listeners:
            server.close()
        if graceful and journal is not None:
            # Let the records already accepted (deferred ones too) reach the store and their receipts go out.
            ctx.broker.write_deferred()
            await journal.flush()
            await asyncio.sleep(0)
        ctx.broker.close()
        connections = list(ctx.connections)
        for conn in connections:
            if graceful:
                conn.close()
            else:
                conn.abort()
        if journal is not None:
            await journal.close()
        if graceful and connections:
            deadline = time.monotonic() + _GRACEFUL_CLOSE_TIMEOUT
            while ctx.connections and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            for conn in list(ctx.connections):
                conn.abort()
        await self._wait_listeners_closed(listeners)
        if connections:
            self.log.info("Closed %d client connection(s)", len(connections))

    # -- memory only ----------------------------------------------------------------------------

    async def _serve_memory_only(self) -> None:
        loop = asyncio.get_running_loop()
        fence = always_valid()
        # No shared epoch without a store: the start time keeps message ids unique across restarts.
        broker = Broker(self.name, int(time.time() * 1000), None, fence.check, loop, self.settings)
        ctx = self._context(broker, fence, f"ID:{self.name}")
        await self._open_listeners(ctx)
        self.role = "master"
        self.log.info("Broker %s is now master (epoch 0), accepting STOMP on %s", self.name, self._endpoints())
        services = None if self._term_services is None else asyncio.ensure_future(self._term_services(broker))
        try:
            await self._stop.wait()
        finally:
            if services is not None:
                services.cancel()
                with contextlib.suppress(BaseException):
                    await services
            await self._end_term(ctx, None, graceful=True)
            self.log.info("Broker %s stopped", self.name)

    # -- listeners ------------------------------------------------------------------------------

    async def _probe_ports(self) -> None:
        """Fail fast (before waiting as a slave) when a connector's port is taken."""
        loop = asyncio.get_running_loop()
        for connector in self.config.connectors:
            if connector.port == 0:
                continue
            try:
                probe = await loop.create_server(asyncio.Protocol, connector.host, connector.port, reuse_address=True)
            except OSError as exc:
                raise StartupError(self._listen_error(connector, exc)) from None
            probe.close()
            await probe.wait_closed()

    def _listen_error(self, connector: ConnectorConfig, exc: OSError) -> str:
        return (
            f"{self.config.source}: transportConnector {connector.name!r} cannot listen on "
            f"{connector.host}:{connector.port}: {exc.strerror or exc}"
        )

    async def _open_listeners(self, ctx: ConnectionContext) -> None:
        loop = asyncio.get_running_loop()
        for connector in self.config.connectors:
            factory = self._connection_factory(ctx, connector)
            try:
                server = await loop.create_server(
                    factory, connector.host, connector.port, reuse_address=True, backlog=1024
                )
            except OSError as exc:
                await self._close_listeners()
                raise StartupError(self._listen_error(connector, exc)) from None
            self._listeners.append(server)
            self.log.info("Connector %s started at %s", connector.name, self._describe(connector, server))

    def _connection_factory(self, ctx: ConnectionContext, connector: ConnectorConfig) -> Callable[[], StompConnection]:
        active: set[StompTransport] = set()
        limit = connector.maximum_connections

        def admit(conn: StompTransport) -> bool:
            if len(active) >= limit:
                self.log.warning(
                    "Connector %s: refusing %s, maximumConnections=%d reached",
                    connector.name,
                    conn.peer,
                    limit,
                )
                return False
            active.add(conn)
            return True

        def factory() -> StompConnection:
            return StompConnection(ctx, connector.max_frame_size, admit=admit, on_closed=active.discard)

        return factory

    async def _close_listeners(self) -> None:
        listeners, self._listeners = self._listeners, []
        for server in listeners:
            server.close()
        await self._wait_listeners_closed(listeners)

    async def _wait_listeners_closed(self, listeners: list[asyncio.Server]) -> None:
        for server in listeners:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        for connector in self.config.connectors[: len(listeners)]:
            self.log.info("Connector %s stopped", connector.name)

    def _endpoints(self) -> str:
        out = []
        for server in self._listeners:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                out.append(f"{host}:{port}")
        return ", ".join(out)

    @staticmethod
    def _describe(connector: ConnectorConfig, server: asyncio.Server) -> str:
        ports = sorted({sock.getsockname()[1] for sock in server.sockets})
        return f"{connector.scheme}://{connector.host}:{','.join(str(p) for p in ports)}"
