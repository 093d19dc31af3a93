"""A customer's counted fraud rules compiled for in-process counters: :class:`Compiled`.

:meth:`FraudEngine.check <tandem.fraud.FraudEngine.check>` on
:class:`~tandem.state.MemoryCounters` runs the same counter operations, in the same order,
on the same keys as its batch (:meth:`FraudEngine._queue`), but without deciding per call
which rules run, reading rule settings or building an operation tuple per counter:

* the keys of a decision are made by one function written for the rule set (Python source
  generated once per rule set and compiled: only the rules and scopes configured appear in
  it, a rule with nothing configured costs nothing);
* the operations themselves (kind, the counters' table of the window shape, amount) are a
  tuple made once per rule set and per *variant* (whether the call has a trunk, a source
  IP, a destination group, a block of consecutive numbers: the scopes that may be absent),
  run by :meth:`MemoryCounters.run_program <tandem.state.MemoryCounters.run_program>`
  (through a runner made once per variant, :meth:`MemoryCounters.graded_runner
  <tandem.state.MemoryCounters.graded_runner>`);
* grading starts with one comparison per answer against the largest value that cannot
  fire (``quiet``): a decision whose answers are all quiet has no counted verdict and
  skips grading; otherwise the engine grades as it always does.

``test_fraud_compiled.py`` checks the keys and operations against the batch path's for
random calls and rule sets, and the verdicts of both paths call by call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from tandem.fraud.keys import (
    concurrent_key,
    cps_key,
    first_call_key,
    velocity_key,
)

if TYPE_CHECKING:
    from tandem.fraud.engine import _Plan

__all__ = ["Compiled"]

_NEVER = math.inf  # a quiet bound no answer exceeds: the op never needs grading
# variant bits: the optional scopes present in a call
_TRUNK, _IP, _GROUP, _BLOCK = 1, 2, 4, 8


class Compiled:
    """One rule set's decision on in-process counters (see the module docstring).

    ``build(facts, ckeys)`` gives ``(variant, keys)``; :meth:`program` the operations and
    quiet bounds of a variant; ``first_call`` the index of the first-call answer in a
    decision's answers (-1: the rule is off) and ``first_rate`` its rate threshold.
    """

    __slots__ = (
        "build", "python_build", "programs", "_steps", "_table", "first_rate", "_first_index",
        "_runner", "_parts", "decide",
    )  # fmt: skip

    def __init__(
        self,
        plan: _Plan,
        table: Callable[[int, int], Any],
        native_keys: Any = None,
        runner: Callable[[Any, tuple[Any, ...]], Callable[[Any, float], Any]] | None = None,
        parts: Callable[[Any, tuple[Any, ...]], Any] | None = None,
        decider: Callable[..., Any] | None = None,
        allowed: Any = None,
    ) -> None:
        self._table = table
        self._runner = runner
        self._parts = parts
        r = plan.rules
        # (kind, shape or None, amount, quiet bound, variant bit it needs or 0), in order
        steps: list[tuple[int, tuple[int, int] | None, int, float, int]] = []
        # the same keys as a recipe for the C key maker (tandem/state/_fastwin.c: keys)
        spec: list[tuple[Any, ...]] = []
        lengths: list[int] = []  # every prefix length and block size: > 0 for the recipe
        src = [
            "def build(f, K):",
            "    _id, customer, number, _at, trunk, source_ip, destination, group, _r = f",
            "    K_cc, K_cps, K_spend, K_same, K_block, K_wangiri, K_first = K",
            "    m = 0",
            "    keys = []",
            "    add = keys.append",
        ]
        cc_customer, cc_trunk, cc_group, cps_customer, cps_ip, same_number, same_block = plan.active
        quiet = plan.quiet
        first_index = -1
        self.first_rate: int | None = None
        for _code, name, _fail, q in plan.code:
            bound = _NEVER if q is None else q
            if name == "concurrent":
                if cc_customer:
                    src.append("    add(K_cc)")
                    spec.append((0, 0))
                    steps.append((0, None, 0, bound, 0))
                if cc_trunk:
                    src += ["    if trunk:", "        m |= 1",
                            "        add(_cc('trunk', trunk))"]  # fmt: skip
                    spec.append(
                        (1, 4, _TRUNK, concurrent_key, "trunk", concurrent_key("trunk", ""))
                    )
                    steps.append((0, None, 0, bound, _TRUNK))
                if cc_group:
                    src += ["    if group:", "        m |= 4",
                            "        add(_cc('group', group))"]  # fmt: skip
                    spec.append(
                        (1, 7, _GROUP, concurrent_key, "group", concurrent_key("group", ""))
                    )
                    steps.append((0, None, 0, bound, _GROUP))
            elif name == "cps":
                c = r.cps
                if cps_customer:
                    src.append("    add(K_cps)")
                    spec.append((0, 1))
                    steps.append((1, (c.window, c.step), 1, bound, 0))
                if cps_ip:
                    src += ["    if source_ip:", "        m |= 2",
                            "        add(_cps('source_ip', source_ip))"]  # fmt: skip
                    spec.append((1, 5, _IP, cps_key, "source_ip", cps_key("source_ip", "")))
                    steps.append((1, (c.window, c.step), 1, bound, _IP))
            elif name == "spend":
                sp = r.spend
                src += ["    add(K_spend)", "    add(K_spend)"]
                spec += [(0, 2), (0, 2)]
                steps.append((2, (3600, sp.hour_step), 0, bound, 0))
                steps.append((2, (86400, sp.day_step), 0, bound, 0))
            elif name == "velocity":
                v = r.velocity
                src += [
                    f"    p = destination or number[:{int(v.prefix_length)}]",
                    "    if p.isdigit():",
                    "        add('" + velocity_key("w", "") + "' + p)",
                    "        add('" + velocity_key("b", "") + "' + p)",
                    "    else:",
                    "        add(_vel('w', p))",
                    "        add(_vel('b', p))",
                ]
                spec.append((2, int(v.prefix_length), velocity_key("w", ""),
                             velocity_key("b", ""), velocity_key, "w", "b"))  # fmt: skip
                lengths.append(int(v.prefix_length))
                steps.append((1, (v.window, v.step), 1, quiet["velocity"], 0))
                steps.append((1, (v.baseline, v.step), 1, _NEVER, 0))
            elif name == "sequential":
                s = r.sequential
                if same_number:
                    src.append("    add(K_same + number)")
                    spec.append((3, 3))
                    steps.append((1, (s.window, s.step), 1, bound, 0))
                if same_block:
                    d = int(s.block_digits)
                    src += [f"    if len(number) > {d}:", "        m |= 8",
                            f"        add(K_block + number[:-{d}])"]  # fmt: skip
                    spec.append((4, 4, d))
                    lengths.append(d)
                    steps.append((1, (s.window, s.step), 1, bound, _BLOCK))
            elif name == "wangiri":
                w = r.wangiri
                src.append(f"    add(K_wangiri + number[:{int(w.prefix_length)}])")
                spec.append((5, 5, int(w.prefix_length)))
                lengths.append(int(w.prefix_length))
                steps.append((2, (w.window, w.step), 0, bound, 0))
            else:  # first_call: fires on an answer of 1 (graded apart, see first_index)
                fc = r.first_call
                src += [
                    f"    p = destination or number[:{int(fc.prefix_length)}]",
                    "    add(K_first + p if p.isdigit() else _first(customer, p))",
                ]
                spec.append((6, 6, int(fc.prefix_length), first_call_key))
                lengths.append(int(fc.prefix_length))
                first_index = len(steps)
                self.first_rate = fc.rate
                steps.append((1, (fc.remember, fc.step), 1, _NEVER, 0))
        src.append("    return m, keys")
        scope: dict[str, Any] = {
            "_cc": concurrent_key,
            "_cps": cps_key,
            "_vel": velocity_key,
            "_first": first_call_key,
        }
        exec(compile("\n".join(src), f"<fraud rules {id(plan):x}>", "exec"), scope)  # noqa: S102
        build: Callable[[Any, Any], tuple[int, list[str]]] = scope["build"]
        #: the Python function, also when the C recipe runs (the reference of the tests)
        self.python_build = build
        if native_keys is not None and all(n > 0 for n in lengths):
            # the same keys made in C from the recipe (the Python function for facts of
            # another shape): one call, no bytecode per key
            build = partial(native_keys, tuple(spec), build)
        self.build = build
        self._steps = tuple(steps)
        self._first_index = first_index
        self.programs: dict[int, tuple[tuple[Any, ...], tuple[float, ...], int, Any, Any]] = {}
        #: ``decide(facts, K)``: the keys and the variant's program in one C call (the
        #: counters' native_decider), or None; see MemoryCounters.native_decider
        self.decide: Callable[[Any, Any], tuple[Any, ...]] | None = None
        if build is not self.python_build and decider is not None and parts is not None:
            # with ``allowed`` (the engine's verdict of a call nothing fires on), decide
            # answers it itself when FraudEngine._settle would (the plan's high-risk
            # prefixes read as HighRiskMatcher.match reads them)
            settle = None
            if allowed is not None:
                m = plan.matcher
                risky = None if plan.high_risk is None else m._risky
                settle = (self.first_rate, risky, m._lengths, allowed)
            self.decide = decider(tuple(spec), self.python_build, self.programs, settle)

    def program(self, variant: int) -> tuple[tuple[Any, ...], tuple[float, ...], int, Any, Any]:
        """``(operations, quiet bounds, index of the first-call answer or -1, run, parts)``
        of a variant (made on first use: at most 16 per rule set); ``run(keys, at)`` is the
        counters' ``graded_runner`` of the operations and bounds (None without one),
        ``parts`` what ``decide`` takes of them (the counters' ``native_parts``, or None)."""
        entry = self.programs.get(variant)
        if entry is None:
            ops: list[tuple[Any, ...]] = []
            bounds: list[float] = []
            first = -1
            for i, (kind, shape, amount, bound, needs) in enumerate(self._steps):
                if needs and not variant & needs:
                    continue
                if i == self._first_index:
                    first = len(ops)
                table = None if shape is None else self._table(*shape)
                ops.append((kind, table, amount))
                bounds.append(bound)
            program, quiet = tuple(ops), tuple(bounds)
            run = None if self._runner is None else self._runner(program, quiet)
            parts = None if self._parts is None else self._parts(program, quiet)
            entry = self.programs[variant] = (program, quiet, first, run, parts)
        return entry
