"""Running a server process: the event loop, the listen address, signals, reloads and a
clean shutdown.

* ``SIGHUP`` reloads the snapshot file; so does a change of the file (checked every
  ``watch`` seconds: inode, size, modification time). The file is loaded in a worker
  thread while the loop keeps answering on the old table, then swapped in between two
  requests (:meth:`~tandem.lcr.Router.swap`): no request waits for a load, none is
  dropped and none mixes two tables. With ``--config``, the routing config file is loaded
  again too on every ``SIGHUP`` and when it changes (:meth:`RouteService.reload_config`).
* ``SIGTERM`` / ``SIGINT``: stop listening, let every answer already written leave
  (buffered data is flushed before a connection closes), then exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from tandem.errors import ConfigError, TandemError
from tandem.serve.service import LOG, RouteService, freeze_heap

__all__ = ["Listen", "parse_listen", "run"]

#: Seconds an open connection gets to send what it has at shutdown.
DRAIN_SECONDS = 5.0


class Listen:
    """A listen address: ``host`` (IPv4 or IPv6 literal, or a name) and ``port``."""

    __slots__ = ("host", "port")

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    @property
    def loopback(self) -> bool:
        """Whether the address is a loopback address (or ``localhost``)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen(text: str) -> Listen:
    """``HOST:PORT`` (``[V6]:PORT`` for IPv6) -> :class:`Listen`; ConfigError says why not."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ConfigError(f"--listen {text!r}: write an IPv6 address as [ADDRESS]:PORT")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:
            raise ConfigError(f"--listen {text!r}: give HOST:PORT (e.g. 127.0.0.1:5070)")
    if not host:
        raise ConfigError(f"--listen {text!r}: no host (e.g. 127.0.0.1:5070)")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"--listen {text!r}: the port must be a number from 0 to 65535")
    if host != "localhost" and not all(c.isalnum() or c in ".-:" for c in host):
        raise ConfigError(f"--listen {text!r}: {host!r} is not an address or host name")
    return Listen(host, int(port_text))


class _Reloader:
    """Reloads the service's snapshot off the loop's thread, one load at a time."""

    def __init__(self, service: RouteService) -> None:
        self.service = service
        self.running = False
        self.again = False

    def request(self) -> None:
        if self.running:
            self.again = True
            return
        self.running = True
        asyncio.get_running_loop().create_task(self._reload())

    async def _reload(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                self.again = False
                self.service.reload_config()  # a small file: on the loop's thread
                try:
                    table, stat = await loop.run_in_executor(None, self.service.load_table)
                except TandemError as exc:
                    self.service.failed(exc)
                except Exception as exc:  # noqa: BLE001 - a reload never stops the server
                    self.service.failed(exc)
                else:
                    self.service.install(table, stat)
                if not self.again:
                    break
        finally:
            self.running = False

    async def watch(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            if self.running:
                continue
            if self.service.changed():
                LOG.info("snapshot %s changed: reloading", self.service.table_path)
                self.request()
            elif self.service.config_changed():
                LOG.info("routing config %s changed: reloading", self.service.config_path)
                self.request()


def run(
    start: Callable[[], Awaitable[tuple[list[Any], set[asyncio.Transport], str]]],
    service: RouteService,
    *,
    watch: float = 1.0,
) -> None:
    """Run a server until SIGTERM / SIGINT: ``start()`` opens its sockets and returns
    ``(closables, open connections, the line saying where it listens)``."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_main(start, service, watch))


async def _main(
    start: Callable[[], Awaitable[tuple[list[Any], set[asyncio.Transport], str]]],
    service: RouteService,
    watch: float,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloader = _Reloader(service)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reloader.request)
    closables, connections, where = await start()
    freeze_heap()  # the table and the modules loaded: out of the collector's walks
    LOG.info("%s", where)
    watcher = loop.create_task(reloader.watch(watch)) if watch > 0 else None
    await stop.wait()
    LOG.info("shutting down")
    if watcher is not None:
        watcher.cancel()
    for c in closables:
        c.close()
    for transport in list(connections):
        transport.close()  # flushes what is buffered first
    deadline = loop.time() + DRAIN_SECONDS
    while connections and loop.time() < deadline:
        await asyncio.sleep(0.01)
    for c in closables:
        if hasattr(c, "wait_closed"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(c.wait_closed(), 1.0)
    LOG.info("stopped")
