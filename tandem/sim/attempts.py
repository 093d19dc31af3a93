"""Attempts along each call's routes, the way a proxy works through them.

Input: every call's ordered routes (carrier indices, ``-1`` padding; from batch routing),
its start, whether and how long it is answered, and each attempt's *failure code* (0: the
carrier is healthy for that attempt; else the SIP code a scripted outage or quality
collapse gives it). A call walks its routes in order:

* a route whose carrier is at its ``max_concurrent`` at the call's start is **skipped**
  (the router would leave it out), not attempted;
* an attempt with a failure code that is one of the carrier's **failover codes** counts a
  failover on that carrier and the call moves to the next route; with another code the
  call **stops** there, failed;
* an attempt on a healthy carrier is the call's own outcome: **carried** when the call is
  answered (it then holds one of the carrier's channels from its start for its duration),
  else ended unanswered (the callee's answer: busy, no answer; no failover).

A call with no routes left is ``routes_exhausted`` (every attempt failed over) or
``capacity`` (the rest were full). Calls are played in start order; capacity is counted
over simulated time (a channel frees at start + duration). Calls that never reach a
capacity-limited carrier are resolved for the whole batch at once (numpy); only the others
are walked one by one.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

__all__ = ["END_NAMES", "Attempts", "play_attempts"]

#: How a call ended (``Attempts.end``): index -> name.
END_NAMES = ("carried", "unanswered", "failed", "routes_exhausted", "capacity", "blocked")
CARRIED, UNANSWERED, FAILED, EXHAUSTED, CAPACITY, BLOCKED = range(6)


@dataclass
class Attempts:
    """Per call: ``end`` (index into :data:`END_NAMES`), ``carrier`` (the carrier of the
    last attempt, -1 when none), ``final`` (its route position, -1); per call and route:
    ``attempted`` and ``failed_over`` (bool) and ``skipped`` (capacity)."""

    end: np.ndarray
    carrier: np.ndarray
    final: np.ndarray
    attempted: np.ndarray
    failed_over: np.ndarray
    skipped: np.ndarray


def play_attempts(
    routes: np.ndarray,
    start: np.ndarray,
    duration: np.ndarray,
    answered: np.ndarray,
    fail_code: np.ndarray,
    failover: np.ndarray,
    caps: dict[int, int],
) -> Attempts:
    """Walk every call's routes (see the module docstring).

    ``routes``: (n, R) carrier indices, -1 padded; ``start`` sorted ascending;
    ``fail_code``: (n, R) SIP code or 0; ``failover``: (n, R) True where that code is a
    failover code of the route's carrier; ``caps``: carrier index -> max concurrent calls.
    """
    n, width = routes.shape
    valid = routes >= 0
    moves_on = valid & (fail_code > 0) & failover
    stop = valid & ~moves_on
    has_stop = stop.any(axis=1)
    first = np.where(has_stop, stop.argmax(axis=1), -1)
    pos = np.arange(width)[None, :]
    reach = np.where(has_stop, first, valid.sum(axis=1) - 1)  # last route attempted
    attempted = valid & (pos <= reach[:, None])
    failed_over = moves_on & attempted
    end = np.full(n, BLOCKED, dtype=np.int8)
    any_route = valid[:, 0] if width else np.zeros(n, dtype=bool)
    end[any_route & ~has_stop] = EXHAUSTED
    final_code = np.where(has_stop, fail_code[np.arange(n), np.maximum(first, 0)], 0)
    end[has_stop & (final_code > 0)] = FAILED
    healthy = has_stop & (final_code == 0)
    end[healthy & answered] = CARRIED
    end[healthy & ~answered] = UNANSWERED
    final = np.where(any_route, reach, -1)
    carrier = np.where(any_route, routes[np.arange(n), np.maximum(final, 0)], -1)
    skipped = np.zeros_like(valid)
    out = Attempts(end, carrier.astype(np.int32), final, attempted, failed_over, skipped)
    if caps:
        capped = np.zeros(max(int(routes.max(initial=-1)) + 2, max(caps) + 2), dtype=bool)
        capped[list(caps)] = True
        touches = (attempted & capped[routes]).any(axis=1)
        rows = np.flatnonzero(touches)
        if len(rows):
            _walk(out, rows, routes, start, duration, answered, fail_code, failover, caps)
    return out


def _walk(
    out: Attempts,
    rows: np.ndarray,
    routes: np.ndarray,
    start: np.ndarray,
    duration: np.ndarray,
    answered: np.ndarray,
    fail_code: np.ndarray,
    failover: np.ndarray,
    caps: dict[int, int],
) -> None:
    """Walk the calls ``rows`` (ascending) one by one, holding channels of capped carriers.

    Plain Python over lists (no numpy scalar per step); what each route position did is
    kept as bit masks per call and written back into the matrices at the end."""
    busy: dict[int, list[int]] = {c: [] for c in caps}
    limit = dict(caps)
    # a route is one int: carrier, and whether its attempt fails (with a failover code or not)
    fails = (fail_code[rows] > 0).astype(np.int64) + (failover[rows] & (fail_code[rows] > 0))
    steps = (routes[rows].astype(np.int64) << 2) | np.where(routes[rows] < 0, 0, fails)
    step_list = steps.tolist()
    t_list = start[rows].tolist()
    e_list = (start[rows] + duration[rows]).tolist()
    a_list = answered[rows].tolist()
    heappush, heappop = heapq.heappush, heapq.heappop
    done: list[tuple[int, int, int, int, int, int]] = []
    keep = done.append
    for j, row in enumerate(step_list):
        t = t_list[j]
        result, last, last_k, full = EXHAUSTED, -1, -1, False
        att = fo = sk = 0
        for k, step in enumerate(row):
            if step < 0:
                break
            c = step >> 2
            held = busy.get(c)
            if held is not None:
                while held and held[0] <= t:
                    heappop(held)
                if len(held) >= limit[c]:
                    sk |= 1 << k
                    full = True
                    continue
            att |= 1 << k
            last, last_k = c, k
            kind = step & 3
            if kind == 2:  # failed with a failover code: the next route
                fo |= 1 << k
                full = False
                continue
            if kind == 1:
                result = FAILED
            elif a_list[j]:
                result = CARRIED
                if held is not None:
                    heappush(held, e_list[j])
            else:
                result = UNANSWERED
            break
        if result == EXHAUSTED and full:
            result = CAPACITY
        keep((result, last, last_k, att, fo, sk))
    ends, lasts, finals, tried, moved, full_bits = zip(*done, strict=True) if done else [()] * 6
    out.end[rows] = ends
    out.carrier[rows] = lasts
    out.final[rows] = finals
    bit = np.int64(1) << np.arange(routes.shape[1], dtype=np.int64)
    for matrix, bits in (
        (out.attempted, tried),
        (out.failed_over, moved),
        (out.skipped, full_bits),
    ):
        matrix[rows] = (np.asarray(bits, dtype=np.int64)[:, None] & bit[None, :]) != 0
