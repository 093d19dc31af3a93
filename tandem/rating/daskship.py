"""The rating book travels to every Dask worker once: :class:`ShipToWorkers`, a worker
plugin, and :func:`shipped`, how a task finds it.

A worker plugin (not ``client.scatter``) because the scheduler keeps it and hands it to
every worker, those that join later (a replacement for a dead one) too, whereas Dask's
active memory manager drops the extra replicas of scattered data, so that a worker's
death could lose the only copy. Tasks name the run's token, never carry the book.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from distributed.diagnostics.plugin import WorkerPlugin

from tandem.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Worker

    from tandem.rating.daskwork import Shipped

__all__ = ["ShipToWorkers", "shipped"]

#: What the plugins installed in this worker process, by run token.
_INSTALLED: dict[str, Shipped] = {}


class ShipToWorkers(WorkerPlugin):
    """Installs a run's :class:`~tandem.rating.daskwork.Shipped` in each worker process
    (setup) and removes it when the run unregisters the plugin (teardown)."""

    def __init__(self, token: str, what: Shipped) -> None:
        self.token = token
        self.what = what
        self.name = f"tandem-rate-{token}"

    def setup(self, worker: Worker) -> None:
        _INSTALLED[self.token] = self.what

    def teardown(self, worker: Worker) -> None:
        _INSTALLED.pop(self.token, None)


def shipped(token: str) -> Shipped:
    """The shipped book of run ``token`` in this worker."""
    try:
        return _INSTALLED[token]
    except KeyError:
        raise ConfigError(
            f"the rating book of run {token} is not installed on this Dask worker"
        ) from None
