"""The servers' counters and their Prometheus text exposition (format 0.0.4).

One :class:`Metrics` per process, written by the event loop's one thread (no locks):
decisions by result, blocks by reason, a latency histogram of the decisions, table
reloads, and what each server adds (SIP requests by method, malformed messages; HTTP
requests by status). The table age and the shared-state fallbacks are read when scraped.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable

__all__ = ["LATENCY_BUCKETS", "Metrics"]

#: Upper bounds (seconds) of the decision latency histogram's buckets.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0,
)  # fmt: skip


class Metrics:
    """Counters of one server process (see the module docstring)."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.decisions: defaultdict[str, int] = defaultdict(int)  # result -> count
        self.blocks: defaultdict[str, int] = defaultdict(int)  # block kind -> count
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.reloads: defaultdict[str, int] = defaultdict(int)  # ok / failed -> count
        self.requests: defaultdict[str, int] = defaultdict(int)  # method or status -> count
        self.malformed = 0
        self.ends = 0
        #: name -> (help, type, reader): gauges and counters read when scraped.
        self.readers: dict[str, tuple[str, str, Callable[[], float]]] = {}

    def decision(self, result: str, seconds: float, block: str | None = None) -> None:
        """Count one decision (``routed``, ``blocked`` or ``error``) and its latency."""
        self.decisions[result] += 1
        if block is not None:
            self.blocks[block] += 1
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    def read(self, name: str, help_text: str, kind: str, reader: Callable[[], float]) -> None:
        """Expose ``name`` (a gauge or counter) whose value ``reader()`` gives when scraped."""
        self.readers[name] = (help_text, kind, reader)

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        s = f'server="{self.server}"'
        out: list[str] = []

        def family(name: str, help_text: str, kind: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        family("tandem_decisions_total", "Routing decisions made, by result.", "counter")
        for result in ("routed", "blocked", "error"):
            out.append(f'tandem_decisions_total{{{s},result="{result}"}} {self.decisions[result]}')
        family("tandem_blocks_total", "Blocked calls, by the reason kind.", "counter")
        for kind, n in sorted(self.blocks.items()):
            out.append(f'tandem_blocks_total{{{s},reason="{kind}"}} {n}')
        family("tandem_decision_seconds", "Time to decide one call.", "histogram")
        total = 0
        for bound, n in zip(LATENCY_BUCKETS, self.buckets, strict=False):
            total += n
            out.append(f'tandem_decision_seconds_bucket{{{s},le="{bound}"}} {total}')
        total += self.buckets[-1]
        out.append(f'tandem_decision_seconds_bucket{{{s},le="+Inf"}} {total}')
        out.append(f"tandem_decision_seconds_sum{{{s}}} {self.latency_sum:.9f}")
        out.append(f"tandem_decision_seconds_count{{{s}}} {total}")
        family("tandem_table_reloads_total", "Routing-table reloads, by result.", "counter")
        for result in ("ok", "failed"):
            out.append(
                f'tandem_table_reloads_total{{{s},result="{result}"}} {self.reloads[result]}'
            )
        if self.server == "sip":
            family("tandem_sip_requests_total", "SIP requests read, by method.", "counter")
            for method, n in sorted(self.requests.items()):
                out.append(f'tandem_sip_requests_total{{{s},method="{method}"}} {n}')
            family("tandem_sip_malformed_total", "Messages dropped as malformed.", "counter")
            out.append(f"tandem_sip_malformed_total{{{s}}} {self.malformed}")
        else:
            family("tandem_http_requests_total", "HTTP requests answered, by status.", "counter")
            for status, n in sorted(self.requests.items()):
                out.append(f'tandem_http_requests_total{{{s},status="{status}"}} {n}')
            family("tandem_call_ends_total", "Call ends received.", "counter")
            out.append(f"tandem_call_ends_total{{{s}}} {self.ends}")
        for name, (help_text, kind, reader) in self.readers.items():
            family(name, help_text, kind)
            value = reader()
            text = str(int(value)) if float(value).is_integer() else f"{value:.6f}"
            out.append(f"{name}{{{s}}} {text}")
        return "\n".join(out) + "\n"
