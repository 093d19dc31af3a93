"""The live fraud engine: every rule on every decision, in one counters batch.

:meth:`FraudEngine.check` queues every counter the customer's rules read or move into one
:meth:`~tandem.state.Counters.batch` (one Redis round trip), then grades the answers
(:mod:`tandem.fraud.thresholds`). On in-process counters (:class:`~tandem.state.MemoryCounters`)
the same operations run compiled per rule set (:mod:`tandem.fraud.compiled`), with the
same answers. What each rule measures for a call at instant ``t``:

``high_risk``   the number's longest high-risk prefix (the customer's allow/deny lists
                matched with the shared list): the rule's ``action``
``concurrent``  calls in progress, this one included (``in_use + 1``), per customer, per
                trunk and per destination group; the slots are taken by the call
                lifecycle with :meth:`FraudEngine.admission_limits` and freed at its end
``cps``         attempts in the last ``window`` (this one included) per customer and per
                source IP
``spend``       money spent by the customer in the hour / day windows (added at call end
                by :meth:`FraudEngine.ended`, at the customer's sell rates)
``velocity``    calls to the call's destination (the matched prefix; else the number's
                first ``prefix_length`` digits), all customers, in
                ``window`` (c, this one included) against the ``baseline`` window (B): the
                call is graded when ``c >= min_calls`` and
                ``c * (baseline/window - 1) > factor * (B - c)``, i.e. the window holds
                more than ``factor`` times the average of the earlier windows, and
                ``B - c >= min_baseline`` (history enough to judge by)
``sequential``  attempts of the customer to this very number, and to its block of
                consecutive numbers (the number without its last ``block_digits`` digits)
``wangiri``     the customer's short calls (at most ``short`` seconds, counted at their
                end) into the number's ``prefix_length``-digit range
``first_call``  the customer's first call to a destination (as for velocity) in
                ``remember`` seconds, when the sell rate is at least ``rate``: flagged
``long_call``   a call to a high-risk prefix longer than ``minutes``: flagged at its end
                (:meth:`FraudEngine.ended`) and while it runs (:meth:`FraudEngine.running`)

Every window is the exact bucketed window of :mod:`tandem.state` (``bucket = floor(t /
step)``, the last ``window // step`` buckets). Counts cannot go negative and state is
freed: windows drop their old buckets, slots expire after ``concurrent.ttl`` seconds and a
release is idempotent (a CANCEL, a busy, a duplicate end never count twice).

When shared state is unreachable a rule configured ``fail = "closed"`` blocks the call
(evidence ``reason``); a ``fail = "open"`` rule reads the local counters that
:class:`~tandem.state.FallbackCounters` fell back to, or is skipped when the counters
raised. The result's notes say so and :attr:`FraudEngine.unreachable` counts such
decisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from tandem.fraud.compiled import Compiled
from tandem.fraud.config import FraudConfig, RuleSet
from tandem.fraud.evidence import (
    first_call_evidence,
    shared_high_risk,
    velocity_evidence,
    wangiri_evidence,
)
from tandem.fraud.facts import CallFacts, FraudResult, Verdict
from tandem.fraud.highrisk import HighRiskMatcher
from tandem.fraud.keys import (
    block_of,
    concurrent_key,
    cps_key,
    first_call_key,
    prefix_of,
    sequential_key,
    spend_key,
    velocity_key,
    wangiri_key,
)
from tandem.fraud.thresholds import ACTIONS, Action, Thresholds
from tandem.money import format_money
from tandem.state import FALLBACK_NOTE, Gather

__all__ = ["FraudEngine", "UNREACHABLE_NOTE", "LOCAL_NOTE"]

#: The note of a decision whose counters raised (rules failed open or closed).
UNREACHABLE_NOTE = "shared state unreachable: fraud counter rules not evaluated"
#: The note of a decision made on local counters (FallbackCounters fell back).
LOCAL_NOTE = FALLBACK_NOTE
#: Whatever a Redis client raises when the server is away (StateUnavailableError is a
#: ConnectionError).
_UNREACHABLE_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
try:  # the redis extra is optional
    import redis.exceptions as _redis_errors

    _UNREACHABLE_ERRORS += (_redis_errors.ConnectionError, _redis_errors.TimeoutError)
except ImportError:  # pragma: no cover - without the extra only the builtins are caught
    pass

# One counted rule of a decision: (rule, fail, how many counter results, what grading
# needs: its scopes, or its destination / range; the largest answer that cannot fire).
_Probe = tuple[str, str, int, Any, Any]
#: The answer of a decision no rule flagged or blocked, without notes (shared).
_ALLOWED = FraudResult("allow")
# One counter operation of a decision: (kind: 1 add, 2 total, 0 slots in use, key, amount,
# window, step), as MemoryCounters.run_fused takes it.
_Op = tuple[int, str, int, int, int]


class _Queued(NamedTuple):
    """What :meth:`FraudEngine.queue` hands to :meth:`FraudEngine.finish`."""

    plan: _Plan
    facts: CallFacts
    probes: Sequence[_Probe]
    start: int  # index of the first answer in the gather's batch
    size: int  # how many answers


def _replay(batch: Any, ops: list[_Op], at: float) -> None:
    """Queue ``ops`` (``(kind, key, amount, window, step)``) on a counters batch."""
    for kind, key, amount, window, step in ops:
        if kind == 1:
            batch.add(key, amount, window=window, step=step, at=at)
        elif kind == 2:
            batch.total(key, window=window, step=step, at=at)
        else:
            batch.in_use(key, at=at)


class _Plan:
    """A customer's rules, ready to run: its high-risk matcher, the counted rules in order
    with their fail modes, and what grading each needs precomputed (so that a decision
    reads no rule settings and grades no rule whose answers cannot fire)."""

    __slots__ = (
        "rules", "matcher", "counted", "closed", "quiet", "high_risk", "code", "active",
        "compiled",
    )  # fmt: skip

    def __init__(self, rules: RuleSet, matcher: HighRiskMatcher) -> None:
        self.rules = rules
        #: (counters, Compiled) for in-process counters, made on first use
        self.compiled: tuple[Any, Compiled] | None = None
        self.matcher = matcher
        counted = []
        r = rules
        for name, rule, active in (
            (
                "concurrent",
                r.concurrent,
                _any(r.concurrent.customer, r.concurrent.trunk, r.concurrent.group),
            ),
            ("cps", r.cps, _any(r.cps.customer, r.cps.source_ip)),
            ("spend", r.spend, _any(r.spend.hour, r.spend.day)),
            ("velocity", r.velocity, r.velocity.factors.active),
            ("sequential", r.sequential, _any(r.sequential.same_number, r.sequential.block)),
            ("wangiri", r.wangiri, r.wangiri.calls.active),
            ("first_call", r.first_call, r.first_call.rate is not None),
        ):
            if rule.enabled and active:
                counted.append((name, rule.fail))
        self.counted = tuple(counted)
        self.closed = tuple(name for name, fail in counted if fail == "closed")
        #: rule -> the largest counter result that grades "allow" at every level of the
        #: rule (results all at or below it: no verdict, grading skipped)
        self.quiet: dict[str, int | float] = {}
        for name, levels, shift in (
            ("concurrent", (r.concurrent.customer, r.concurrent.trunk, r.concurrent.group), 1),
            ("cps", (r.cps.customer, r.cps.source_ip), 0),
            ("spend", (r.spend.hour, r.spend.day), 0),
            ("sequential", (r.sequential.same_number, r.sequential.block), 0),
            ("wangiri", (r.wangiri.calls,), 0),
        ):
            bounds = [x for t in levels for x in (t.warning, t.critical) if x is not None]
            if bounds:  # concurrent grades in_use + 1: one less
                self.quiet[name] = min(bounds) - shift
        # velocity grades nothing below min_calls (its window count, the first answer)
        self.quiet["velocity"] = r.velocity.min_calls - 1
        #: the high-risk rule's action when enabled, else None
        self.high_risk = r.high_risk.action if r.high_risk.enabled else None
        #: per counted rule: (code, name, fail, quiet bound or None) in order
        self.code = tuple(
            (_CODES[name], name, fail, self.quiet.get(name)) for name, fail in counted
        )
        #: which levels can fire: concurrent customer, trunk, group; cps customer, source
        #: IP; sequential same number, block
        self.active = tuple(
            t.active
            for t in (
                r.concurrent.customer, r.concurrent.trunk, r.concurrent.group, r.cps.customer,
                r.cps.source_ip, r.sequential.same_number, r.sequential.block,
            )
        )  # fmt: skip


_CONCURRENT, _CPS, _SPEND, _VELOCITY, _SEQUENTIAL, _WANGIRI, _FIRST_CALL = range(7)
_CODES = {
    "concurrent": _CONCURRENT,
    "cps": _CPS,
    "spend": _SPEND,
    "velocity": _VELOCITY,
    "sequential": _SEQUENTIAL,
    "wangiri": _WANGIRI,
    "first_call": _FIRST_CALL,
}


class _CustomerKeys(NamedTuple):
    """The counter keys (and key heads) of one customer, built once."""

    concurrent: str  # fraud:cc:customer:NAME
    cps: str  # fraud:cps:customer:NAME
    spend: str
    same_number: str  # fraud:seq:s:NAME: (then the number)
    block: str  # fraud:seq:b:NAME: (then the block)
    wangiri: str  # fraud:wan:NAME: (then the range)
    first_call: str  # fraud:first:NAME: (then the destination)


def _customer_keys(customer: str) -> _CustomerKeys:
    return _CustomerKeys(
        concurrent_key("customer", customer),
        cps_key("customer", customer),
        spend_key(customer),
        sequential_key("s", customer, ""),
        sequential_key("b", customer, ""),
        wangiri_key(customer, ""),
        first_call_key(customer, ""),
    )


_VELOCITY_W = velocity_key("w", "")
_VELOCITY_B = velocity_key("b", "")


def _any(*levels: Thresholds) -> bool:
    return any(t.active for t in levels)


class FraudEngine:
    """Evaluates the fraud rules of :class:`FraudConfig` against shared counters.

    ``high_risk`` adds prefixes to the shared high-risk list (the config's ``prefixes`` and
    ``file`` are always read).
    """

    def __init__(
        self,
        config: FraudConfig,
        counters: Any,
        *,
        high_risk: Iterable[str] = (),
    ) -> None:
        self.config = config
        self.counters = counters
        self.high_risk = tuple(shared_high_risk(config, high_risk))
        self._plans: dict[str, _Plan] = {}
        self._keys: dict[str, _CustomerKeys] = {}
        #: customer -> (counters, plan, key maker, customer keys, programs, first-call
        #: rate, high-risk action, high-risk match, the C decide or None): check's fast
        #: path (see there)
        self._fast: dict[str, tuple[Any, ...]] = {}
        #: MemoryCounters.run_graded (in process: the compiled rules, see
        #: tandem.fraud.compiled), else None: a batch per decision
        self._run_graded: Any = getattr(counters, "run_graded", None)
        #: whether the counters say when they fell back to local ones (FallbackCounters)
        self._fallible = hasattr(counters, "last_fell_back")
        self._default = self._make_plan(None)
        #: Decisions made while shared state was unreachable.
        self.unreachable = 0
        #: Whether the last decision (or end) ran on local counters or none.
        self.last_fell_back = False

    # -- plans -------------------------------------------------------------------------------
    def _make_plan(self, customer: str | None) -> _Plan:
        own = self.config.customers.get(customer) if customer is not None else None
        rules = own.rules if own is not None else self.config.rules
        matcher = HighRiskMatcher(
            self.high_risk,
            allow=own.high_risk_allow if own else (),
            deny=own.high_risk_deny if own else (),
        )
        return _Plan(rules, matcher)

    def _plan(self, customer: str) -> _Plan:
        plan = self._plans.get(customer)
        if plan is None:
            plan = self._make_plan(customer) if customer in self.config.customers else self._default
            if len(self._plans) < 100_000:  # bounded: unknown customers share the default
                self._plans[customer] = plan
        return plan

    def _customer_keys(self, customer: str) -> _CustomerKeys:
        keys = _customer_keys(customer)
        if len(self._keys) < 100_000:  # bounded, as the plans
            self._keys[customer] = keys
        return keys

    def high_risk_prefix(self, customer: str, number: str) -> str | None:
        """The high-risk prefix ``number`` falls in for ``customer`` (None when not)."""
        return self._plan(customer).matcher.match(number)

    # -- the lifecycle's concurrent-call slots ----------------------------------------------
    def admission_limits(self, facts: CallFacts) -> dict[str, int]:
        """The slots a call takes when admitted: counter key -> cap, for the customer, its
        trunk and the destination group (those with a threshold). Pass it to
        :meth:`~tandem.state.Counters.acquire` with ``ttl=`` :attr:`slot_ttl`; a cap is the
        ``critical`` level (calls in progress allowed), or unlimited when only a warning
        is set."""
        rule = self._plan(facts.customer).rules.concurrent
        if not rule.enabled:
            return {}
        out: dict[str, int] = {}
        for scope, name, levels in self._concurrent_scopes(rule, facts):
            out[concurrent_key(scope, name)] = (
                int(levels.critical) if levels.critical is not None else 2**31
            )
        return out

    @property
    def slot_ttl(self) -> int:
        """Seconds a call's slots live when its end never arrives (``concurrent.ttl``)."""
        return self.config.rules.concurrent.ttl

    @staticmethod
    def _concurrent_scopes(rule: Any, facts: CallFacts) -> list[tuple[str, str, Thresholds]]:
        out = []
        if rule.customer.active:
            out.append(("customer", facts.customer, rule.customer))
        if rule.trunk.active and facts.trunk:
            out.append(("trunk", facts.trunk, rule.trunk))
        if rule.group.active and facts.group:
            out.append(("group", facts.group, rule.group))
        return out

    # -- the decision ------------------------------------------------------------------------------
    def check(self, facts: CallFacts) -> FraudResult:
        """Every rule for one call attempt, with one counters batch; the most severe action,
        the verdicts that flagged or blocked, and notes."""
        # In-process counters with runners: what the compiled path below reads, kept per
        # customer in one entry (the same steps, fewer lookups); else the path below.
        entry = self._fast.get(facts.customer)
        if entry is not None and entry[0] is self.counters:
            _counters, plan, build, keys_of, programs, first_rate, action, match, decide = entry
            if decide is not None:  # keys and counters in one C call (Compiled.decide)
                got = decide(facts, keys_of)
                if got is _ALLOWED:  # nothing fired (decided as _settle does)
                    self.last_fell_back = False
                    return got
                if len(got) == 3:
                    self.last_fell_back = False
                    return self._settle(
                        plan, facts, got[0], got[1], got[2], first_rate, action, match
                    )
                variant, keys = got  # the steps below run (the same answers)
            else:
                variant, keys = build(facts, keys_of)
            program = programs.get(variant)
            if program is not None:
                answers, over = program[3](keys, facts.at)
                self.last_fell_back = False
                return self._settle(
                    plan, facts, answers, over, program[2], first_rate, action, match
                )
        return self._check(facts)

    def _check(self, facts: CallFacts) -> FraudResult:
        """:meth:`check` without its per-customer entry (and the entry made)."""
        plan = self._plans.get(facts.customer)
        if plan is None:
            plan = self._plan(facts.customer)
        if not plan.counted:
            self.last_fell_back = False
            return self._grade_all(plan, facts, (), None)
        if self._run_graded is None:  # a batch (one round trip)
            ops: list[_Op] = []
            probes = self._queue(plan, facts, ops)
            results = self._batched(ops, facts.at)
            return self._grade_all(plan, facts, probes, results)
        # In-process counters: the rule set's compiled program (the operations of _queue,
        # see tandem.fraud.compiled), one call under one lock; grading only when an
        # answer can fire.
        compiled = plan.compiled
        if compiled is None or compiled[0] is not self.counters:
            native_keys = getattr(self.counters, "native_keys", None)
            compiled = plan.compiled = (
                self.counters,
                Compiled(
                    plan,
                    self.counters.table,
                    native_keys,
                    getattr(self.counters, "graded_runner", None),
                    getattr(self.counters, "native_parts", None),
                    getattr(self.counters, "native_decider", None),
                    _ALLOWED,
                ),
            )
        fast = compiled[1]
        keys_of = self._keys.get(facts.customer)
        if keys_of is None:
            keys_of = self._customer_keys(facts.customer)
        variant, keys = fast.build(facts, keys_of)
        program = fast.programs.get(variant)
        if program is None:
            program = fast.program(variant)
        steps, bounds, first, run, _parts = program
        if run is not None:
            if len(self._fast) < 100_000:  # bounded, as the plans
                self._fast[facts.customer] = (
                    self.counters, plan, fast.build, keys_of, fast.programs, fast.first_rate,
                    plan.high_risk, plan.matcher.match, fast.decide,
                )  # fmt: skip
            answers, over = run(keys, facts.at)
        else:
            answers, over = self._run_graded(steps, keys, facts.at, bounds)
        self.last_fell_back = False
        return self._settle(
            plan, facts, answers, over, first, fast.first_rate, plan.high_risk, plan.matcher.match
        )

    def _settle(
        self,
        plan: _Plan,
        facts: CallFacts,
        answers: Any,
        over: Any,
        first: int,
        first_rate: int | None,
        action: Action | None,
        match: Any,
    ) -> FraudResult:
        """The result once the compiled rules' counters answered: when no bound was
        crossed and the first-call rule cannot fire (``first``: its answer's index, -1
        without one; ``first_rate``: its rate threshold), the high-risk rule alone
        (``action``, ``match``: the plan's); else every rule graded."""
        if not over:
            rate = facts.sell_rate
            if (
                first < 0
                or answers[first] != 1
                or rate is None
                or first_rate is None
                or rate < first_rate
            ):  # nothing counted can fire: the high-risk rule alone
                if action is not None:
                    prefix = match(facts.number)
                    if prefix is not None:
                        verdict = Verdict("high_risk", action, {"prefix": prefix})
                        return FraudResult(ACTIONS[2 if action == "block" else 1], (verdict,))
                return _ALLOWED
        return self._grade_all(plan, facts, self._queue(plan, facts, []), answers)

    def queue(self, facts: CallFacts, gather: Gather) -> _Queued:
        """The first half of :meth:`check` for a decision that gathers every part's reads
        into one round trip (:class:`~tandem.state.Gather`): queue the rules' counter
        operations on ``gather``'s batch of this engine's counters. Execute the gather,
        then :meth:`finish` with what this returned."""
        plan = self._plan(facts.customer)
        if not plan.counted:
            return _Queued(plan, facts, (), 0, 0)
        ops: list[_Op] = []
        probes = self._queue(plan, facts, ops)
        batch = gather.batch(self.counters)
        start = len(batch)  # type: ignore[arg-type]  # both batch kinds have __len__
        _replay(batch, ops, facts.at)
        return _Queued(plan, facts, probes, start, len(ops))

    def finish(self, queued: _Queued, gather: Gather) -> FraudResult:
        """The second half of :meth:`check`: grade the answers of the executed ``gather``
        (the same verdicts :meth:`check` gives)."""
        plan, facts, probes, start, count = queued
        if not plan.counted:
            self.last_fell_back = False
            return self._grade_all(plan, facts, (), None)
        answers = gather.results(self.counters)
        results = None if answers is None else answers[start : start + count]
        return self._grade_all(plan, facts, probes, results)

    def _grade_all(
        self,
        plan: _Plan,
        facts: CallFacts,
        probes: Sequence[_Probe],
        results: list[Any] | None,
    ) -> FraudResult:
        """The verdicts of every rule: high-risk from the number, the counted rules from
        their counter ``results`` (None: unreachable; ignored without counted rules)."""
        verdicts: list[Verdict] = []
        worst = 0
        rules = plan.rules
        action = plan.high_risk
        if action is not None:
            prefix = plan.matcher.match(facts.number)
            if prefix is not None:
                verdicts.append(Verdict("high_risk", action, {"prefix": prefix}))
                worst = 2 if action == "block" else 1
        if not plan.counted:
            return FraudResult(ACTIONS[worst], tuple(verdicts)) if verdicts else _ALLOWED
        notes: tuple[str, ...] = ()
        fell_back = results is None or (self._fallible and self.counters.last_fell_back)
        self.last_fell_back = fell_back
        if fell_back:
            self.unreachable += 1
            notes = (UNREACHABLE_NOTE if results is None else LOCAL_NOTE,)
        i = 0
        for name, fail, count, data, q in probes:
            if fell_back and fail == "closed":
                verdicts.append(Verdict(name, "block", {"reason": "shared state unreachable"}))
                worst = 2
            elif results is not None:
                if count == 1:  # most rules: one answer, no slice
                    first = results[i]
                    if (q is not None and first <= q) or (name == "first_call" and first != 1):
                        i += 1
                        continue  # below every threshold of the rule: no verdict
                    values = results[i : i + 1]
                else:
                    values = results[i : i + count]
                    if q is not None and (
                        not values or (values[0] if name == "velocity" else max(values)) <= q
                    ):
                        i += count
                        continue  # below every threshold (velocity: below min_calls)
                graded = _grade(name, rules, data, values, facts)
                if graded is not None:
                    code, evidence = graded
                    verdicts.append(Verdict(name, ACTIONS[code], evidence))
                    if code > worst:
                        worst = code
            i += count
        if not worst and not verdicts and not notes:
            return _ALLOWED
        return FraudResult(ACTIONS[worst], tuple(verdicts), notes)

    def _queue(self, plan: _Plan, facts: CallFacts, ops: list[_Op]) -> list[_Probe]:
        """Append the counter operations of every counted rule to ``ops`` (``(kind, key,
        amount, window, step)``: 1 add, 2 total, 0 slots in use; all at the call's
        instant); per rule ``(name, fail, how many results, what grading needs, the
        largest answer that cannot fire)``."""
        r = plan.rules
        number = facts.number
        customer = facts.customer
        keys = self._keys.get(customer)
        if keys is None:
            keys = self._customer_keys(customer)
        probes: list[_Probe] = []
        op = ops.append
        probe = probes.append
        cc_customer, cc_trunk, cc_group, cps_customer, cps_ip, same_number, same_block = plan.active
        for code, name, fail, quiet in plan.code:
            if code == _CONCURRENT:
                c = r.concurrent
                scopes = []
                if cc_customer:
                    scopes.append(("customer", customer, c.customer))
                    op((0, keys.concurrent, 0, 0, 0))
                if cc_trunk and facts.trunk:
                    scopes.append(("trunk", facts.trunk, c.trunk))
                    op((0, concurrent_key("trunk", facts.trunk), 0, 0, 0))
                if cc_group and facts.group:
                    scopes.append(("group", facts.group, c.group))
                    op((0, concurrent_key("group", facts.group), 0, 0, 0))
                probe((name, fail, len(scopes), scopes, quiet))
            elif code == _CPS:
                cps = r.cps
                scopes = []
                if cps_customer:
                    scopes.append(("customer", customer, cps.customer))
                    op((1, keys.cps, 1, cps.window, cps.step))
                if cps_ip and facts.source_ip:
                    scopes.append(("source_ip", facts.source_ip, cps.source_ip))
                    op((1, cps_key("source_ip", facts.source_ip), 1, cps.window, cps.step))
                probe((name, fail, len(scopes), scopes, quiet))
            elif code == _SPEND:
                sp = r.spend
                op((2, keys.spend, 0, 3600, sp.hour_step))
                op((2, keys.spend, 0, 86400, sp.day_step))
                probe((name, fail, 2, None, quiet))
            elif code == _VELOCITY:
                v = r.velocity
                p = facts.destination or number[: v.prefix_length]
                if p.isdigit():
                    w, b = _VELOCITY_W + p, _VELOCITY_B + p
                else:
                    w, b = velocity_key("w", p), velocity_key("b", p)
                op((1, w, 1, v.window, v.step))
                op((1, b, 1, v.baseline, v.step))
                probe((name, fail, 2, p, quiet))
            elif code == _SEQUENTIAL:
                q = r.sequential
                scopes = []
                if same_number:
                    scopes.append(("same_number", number, q.same_number))
                    op((1, keys.same_number + number, 1, q.window, q.step))
                if same_block:
                    block = block_of(number, q.block_digits)
                    if block:
                        scopes.append(("block", block, q.block))
                        op((1, keys.block + block, 1, q.window, q.step))
                probe((name, fail, len(scopes), scopes, quiet))
            elif code == _WANGIRI:
                wg = r.wangiri
                p = number[: wg.prefix_length]
                op((2, keys.wangiri + p, 0, wg.window, wg.step))
                probe((name, fail, 1, p, quiet))
            else:  # first_call
                f = r.first_call
                p = facts.destination or number[: f.prefix_length]
                k = keys.first_call + p if p.isdigit() else first_call_key(customer, p)
                op((1, k, 1, f.remember, f.step))
                probe((name, fail, 1, p, quiet))
        return probes

    def _batched(self, ops: list[_Op], at: float) -> list[Any] | None:
        """Run ``ops`` in one counters batch (one round trip); None when unreachable."""
        batch = self.counters.batch()
        _replay(batch, ops, at)
        try:
            results: list[Any] = batch.execute()
        except _UNREACHABLE_ERRORS:
            return None
        return results

    # -- call end and calls in progress ----------------------------------------------------------
    def ended(
        self, facts: CallFacts, *, duration: int, cost: int, at: float
    ) -> tuple[Verdict, ...]:
        """A call ended at ``at`` after ``duration`` billed seconds costing ``cost`` (scaled
        integer at the customer's sell rate): feeds the spend windows and the short-call
        (Wangiri) count; returns the long-call verdict when it applies. Never raises for
        unreachable shared state (the spend is then lost for the shared windows; the
        engine counts it in :attr:`unreachable`)."""
        plan = self._plan(facts.customer)
        r = plan.rules
        batch = None
        if r.spend.enabled and cost:
            batch = self.counters.batch()
            k = spend_key(facts.customer)
            batch.add(k, cost, window=3600, step=r.spend.hour_step, at=at)
            batch.add(k, cost, window=86400, step=r.spend.day_step, at=at)
        if r.wangiri.enabled and r.wangiri.calls.active and duration <= r.wangiri.short:
            batch = batch or self.counters.batch()
            w = r.wangiri
            batch.add(
                wangiri_key(facts.customer, prefix_of(facts.number, w.prefix_length)),
                1,
                window=w.window,
                step=w.step,
                at=at,
            )
        if batch is not None:
            try:
                batch.execute()
                self.last_fell_back = bool(getattr(self.counters, "last_fell_back", False))
            except _UNREACHABLE_ERRORS:
                self.last_fell_back = True
            if self.last_fell_back:
                self.unreachable += 1
        return self._long_call(plan, facts, duration)

    def running(self, facts: CallFacts, *, elapsed: int, at: float) -> tuple[Verdict, ...]:
        """The long-call verdict for a call to a high-risk prefix running ``elapsed``
        seconds at ``at`` (empty when it does not apply); reads no shared state."""
        del at  # the verdict depends on the elapsed time only
        return self._long_call(self._plan(facts.customer), facts, elapsed)

    @staticmethod
    def _long_call(plan: _Plan, facts: CallFacts, seconds: int) -> tuple[Verdict, ...]:
        rule = plan.rules.long_call
        if not rule.enabled or seconds <= rule.minutes * 60:
            return ()
        prefix = plan.matcher.match(facts.number)
        if prefix is None:
            return ()
        evidence = {"prefix": prefix, "minutes": str(rule.minutes), "seconds": str(seconds)}
        return (Verdict("long_call", "flag", evidence),)


# -- grading: each rule's counter answers ------------------------------------------------


def _grade(
    name: str, rules: RuleSet, data: Any, values: Sequence[Any], facts: CallFacts
) -> tuple[int, dict[str, str]] | None:
    """A counted rule's grade and evidence from its counter results (None: no verdict)."""
    if name == "concurrent":
        return _best_scope(data, [v + 1 for v in values], None, "name")
    if name == "cps":
        return _best_scope(data, values, rules.cps.window, "name")
    if name == "sequential":
        return _best_scope(data, values, rules.sequential.window, "prefix")
    if name == "spend":
        return _spend_grade(rules.spend.hour, rules.spend.day, values)
    if name == "velocity":
        v = rules.velocity
        return velocity_grade(v, data, values[0], values[1], v.baseline // v.window - 1)
    if name == "wangiri":
        w = rules.wangiri
        count = values[0]
        code = w.calls.grade(count)
        return (code, wangiri_evidence(w, data, count, w.calls.crossed(code))) if code else None
    f = rules.first_call  # first_call
    rate = facts.sell_rate
    if values[0] != 1 or rate is None or f.rate is None or rate < f.rate:
        return None
    return 1, first_call_evidence(f, data, rate)


def _best_scope(
    scopes: list[tuple[str, str, Thresholds]],
    values: Sequence[Any],
    window: int | None,
    label: str,
) -> tuple[int, dict[str, str]] | None:
    """The most severe scope (the first on ties) of a multi-scope rule."""
    best: tuple[int, dict[str, str]] | None = None
    for (scope, part, levels), count in zip(scopes, values, strict=True):
        code = levels.grade(count)
        if code and (best is None or code > best[0]):
            ev = {"scope": scope}
            if window is None:
                ev[label] = part
            else:
                ev["window"] = str(window)
            ev["count"] = str(count)
            ev["threshold"] = str(levels.crossed(code))
            if window is not None:
                ev[label] = part
            best = (code, ev)
    return best


def _spend_grade(
    hour: Thresholds, day: Thresholds, values: Sequence[Any]
) -> tuple[int, dict[str, str]] | None:
    best: tuple[int, dict[str, str]] | None = None
    for scope, window, levels, spent in (
        ("hour", 3600, hour, values[0]),
        ("day", 86400, day, values[1]),
    ):
        code = levels.grade(spent)
        if code and (best is None or code > best[0]):
            crossed = levels.crossed(code)
            best = (
                code,
                {
                    "scope": scope,
                    "window": str(window),
                    "spent": format_money(int(spent)),
                    "threshold": format_money(int(crossed or 0)),
                },
            )
    return best


def velocity_grade(
    rule: Any, prefix: str, count: int, base: int, earlier: int
) -> tuple[int, dict[str, str]] | None:
    """The velocity grade of ``count`` calls in the window against ``base`` calls in the
    baseline window (which holds them); None below ``min_calls`` or the factors."""
    rest = base - count
    if count < rule.min_calls or rest < rule.min_baseline:
        return None
    lhs = count * earlier
    f = rule.factors
    code = 0
    if f.critical is not None and lhs > f.critical * rest:
        code = 2
    elif f.warning is not None and lhs > f.warning * rest:
        code = 1
    if not code:
        return None
    return code, velocity_evidence(rule, prefix, count, rest, f.crossed(code))
