"""Build ``data/high_risk.csv``, Tandem's list of high-risk destination ranges.

Run from the repository root: ``python scripts/build_high_risk.py`` (needs the
``phonenumbers`` package, pinned in the ``test`` extra; Tandem itself never imports it:
:mod:`tandem.fraud.highrisk_list` reads the CSV this writes).

Two sources:

1. **phonenumbers** (Apache-2.0; Google's libphonenumber metadata ported to Python): for
   every region, the number types ``PREMIUM_RATE`` and ``SHARED_COST``. The metadata
   describes each type by a regular expression over national significant numbers and a
   list of possible lengths. This script turns each into the shortest E.164 prefixes such
   that (a) at some valid length ``L`` **every** number starting with the prefix is of that
   type (phonenumbers checks the general pattern, then premium rate, toll free, shared
   cost... in that order, and so does this script), and (b) at no other length is any
   number starting with it valid as another type. The expansion is exact: the patterns are
   compiled into automata (Thompson construction from the regex parse tree, subsets
   built lazily) and the "every completion" / "some completion" questions are answered by
   a memoised walk over (automaton states, digits remaining), never by sampling. It is
   bounded: prefixes are at most the number's length, and a region and type whose
   expansion would list more than :data:`MAX_PER_TYPE` prefixes is left out (and named
   in the output). Each kept prefix is then checked with phonenumbers itself (its smallest,
   largest and 8 seeded random completions at ``L`` must be classified as the type, the
   region resolution of shared country codes included); a prefix failing it is left out.
2. **Tandem policy**: the ITU international network codes 881 (Global Mobile Satellite
   System), 882 and 883 (International Networks) and the Universal International Premium
   Rate code 979: ranges with no national regulator behind them, where International
   Revenue Share Fraud concentrates. Ranges phonenumbers lists under these are dropped
   (the policy prefix covers them).
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType

try:  # Python 3.11+
    from re import _parser as sre_parse  # type: ignore[attr-defined]
    from re._constants import MAXREPEAT  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_parse  # type: ignore[no-redef]
    from sre_constants import MAXREPEAT  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "high_risk.csv"
MAX_PER_TYPE = 400
DIGITS = "0123456789"

#: Types in the order phonenumbers classifies a valid number (fixed/mobile last).
TYPE_ORDER = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line", "mobile",
)  # fmt: skip
TARGETS = {"premium_rate": PhoneNumberType.PREMIUM_RATE, "shared_cost": PhoneNumberType.SHARED_COST}

POLICY = [
    ("881", "international_network", "001", 12,
     "tandem policy: ITU 881 Global Mobile Satellite System, no national regulator, IRSF target"),
    ("882", "international_network", "001", 12,
     "tandem policy: ITU 882 International Networks, no national regulator, IRSF target"),
    ("883", "international_network", "001", 12,
     "tandem policy: ITU 883 International Networks, no national regulator, IRSF target"),
    ("979", "premium_rate", "001", 12,
     "tandem policy: ITU 979 Universal International Premium Rate Number"),
]  # fmt: skip


# -- regular expression -> NFA over digits -----------------------------------------------------


class Nfa:
    """A Thompson NFA over the digits 0-9: ``edges[s]`` = [(digits, t)], ``eps[s]`` = [t]."""

    def __init__(self, pattern: str) -> None:
        self.edges: list[list[tuple[frozenset[str], int]]] = []
        self.eps: list[list[int]] = []
        self.start = self._new()
        self.final = self._seq(list(sre_parse.parse(pattern)), self.start)

    def _new(self) -> int:
        self.edges.append([])
        self.eps.append([])
        return len(self.edges) - 1

    def _seq(self, items: list, s: int) -> int:
        for op, arg in items:
            s = self._node(op, arg, s)
        return s

    def _charset(self, op, arg) -> frozenset[str]:  # noqa: ANN001
        name = str(op)
        if name == "LITERAL":
            return frozenset(chr(arg)) & frozenset(DIGITS)
        if name == "ANY":
            return frozenset(DIGITS)
        if name == "IN":
            out: set[str] = set()
            negate = False
            for o, a in arg:
                n = str(o)
                if n == "NEGATE":
                    negate = True
                elif n == "LITERAL":
                    out |= {chr(a)}
                elif n == "RANGE":
                    out |= {chr(c) for c in range(a[0], a[1] + 1)}
                elif n == "CATEGORY" and str(a) == "CATEGORY_DIGIT":
                    out |= set(DIGITS)
                else:
                    raise ValueError(f"unsupported character class item {n} {a}")
            digits = frozenset(out) & frozenset(DIGITS)
            return frozenset(DIGITS) - digits if negate else digits
        raise ValueError(f"not a character class: {name}")

    def _node(self, op, arg, s: int) -> int:  # noqa: ANN001
        name = str(op)
        if name in ("LITERAL", "ANY", "IN"):
            t = self._new()
            self.edges[s].append((self._charset(op, arg), t))
            return t
        if name == "SUBPATTERN":
            return self._seq(list(arg[-1]), s)
        if name == "BRANCH":
            end = self._new()
            for alt in arg[1]:
                a = self._new()
                self.eps[s].append(a)
                self.eps[self._seq(list(alt), a)].append(end)
            return end
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            sub = list(sub)
            for _ in range(low):
                s = self._seq(sub, s)
            if high == MAXREPEAT:
                loop = self._new()
                self.eps[s].append(loop)
                self.eps[self._seq(sub, loop)].append(loop)
                return loop
            end = self._new()
            self.eps[s].append(end)
            for _ in range(high - low):
                s = self._seq(sub, s)
                self.eps[s].append(end)
            return end
        raise ValueError(f"unsupported regular expression node {name}")

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        """Every state reachable from ``states`` by empty moves."""
        seen = set(states)
        stack = list(seen)
        while stack:
            for t in self.eps[stack.pop()]:
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return frozenset(seen)


class Matcher:
    """One ``PhoneNumberDesc``: its pattern as a lazily built DFA, and its lengths."""

    def __init__(self, pattern: str, lengths: tuple[int, ...]) -> None:
        self.nfa = Nfa(pattern)
        self.lengths = frozenset(lengths)
        self.init = self.nfa.closure([self.nfa.start])
        self._step: dict[tuple[frozenset[int], str], frozenset[int]] = {}

    def step(self, state: frozenset[int], digit: str) -> frozenset[int]:
        key = (state, digit)
        hit = self._step.get(key)
        if hit is None:
            nxt = [t for s in state for chars, t in self.nfa.edges[s] if digit in chars]
            hit = self._step[key] = self.nfa.closure(nxt)
        return hit

    def accepts(self, state: frozenset[int], length: int) -> bool:
        return (not self.lengths or length in self.lengths) and self.nfa.final in state

    def check(self, text: str) -> bool:
        state = self.init
        for d in text:
            state = self.step(state, d)
        return self.accepts(state, len(text))


# -- expansion -----------------------------------------------------------------------------------


class Expansion:
    """The prefixes of one region whose numbers are all of ``target`` type (module doc)."""

    def __init__(self, metadata: PhoneMetadata, target: str) -> None:
        general = metadata.general_desc
        self.general = Matcher(general.national_number_pattern, tuple(general.possible_length))
        self.types: list[tuple[str, Matcher]] = []
        for name in TYPE_ORDER:
            desc = getattr(metadata, name)
            if desc is not None and desc.national_number_pattern:
                self.types.append((name, Matcher(desc.national_number_pattern,
                                                 tuple(desc.possible_length))))  # fmt: skip
        self.target = target
        self.lengths = sorted(self.general.lengths)
        self.matchers = [self.general] + [m for _, m in self.types]

    def _class(self, states: tuple[frozenset[int], ...], length: int) -> str | None:
        """What phonenumbers calls a number ending in ``states``: a type, or None."""
        if not self.general.accepts(states[0], length):
            return None
        for (name, m), s in zip(self.types, states[1:], strict=True):
            if m.accepts(s, length):
                return name
        return None

    def step(self, states: tuple[frozenset[int], ...], digit: str) -> tuple[frozenset[int], ...]:
        return tuple(m.step(s, digit) for m, s in zip(self.matchers, states, strict=True))

    def summary(
        self, states: tuple[frozenset[int], ...], rem: int, length: int
    ) -> tuple[bool, bool, bool]:
        """Over every completion of ``rem`` more digits (a full number of ``length``):
        (all are the target type, some is, some is another valid type)."""
        return self._summary(states, rem, length)

    @cache  # noqa: B019 - one Expansion per region and type, short-lived
    def _summary(
        self, states: tuple[frozenset[int], ...], rem: int, length: int
    ) -> tuple[bool, bool, bool]:
        if rem == 0:
            kind = self._class(states, length)
            return kind == self.target, kind == self.target, kind not in (None, self.target)
        every, some, other = True, False, False
        for d in DIGITS:
            e, s, o = self._summary(self.step(states, d), rem - 1, length)
            every, some, other = every and e, some or s, other or o
        return every, some, other

    def prefixes(self, limit: int) -> list[tuple[str, int]] | None:
        """``[(national prefix, length at which every completion is the type)]``, shortest
        prefixes first; None when there would be more than ``limit``."""
        out: list[tuple[str, int]] = []
        stack = [("", tuple(m.init for m in self.matchers))]
        while stack:
            prefix, states = stack.pop()
            k = len(prefix)
            full, any_good, any_other = None, False, False
            for length in self.lengths:
                if length < k:
                    continue
                every, some, other = self.summary(states, length - k, length)
                any_good |= some
                any_other |= other
                if every and full is None and k > 0:
                    full = length
            if not any_good:
                continue
            if full is not None and not any_other:
                out.append((prefix, full))
                if len(out) > limit:
                    return None
                continue
            if k >= max(self.lengths):
                continue
            for d in reversed(DIGITS):
                stack.append((prefix + d, self.step(states, d)))
        return sorted(out)


def _verified(cc: int, national: str, length: int, target: str, rng: random.Random) -> str | None:
    """The region phonenumbers places completions of ``national`` in, when it classifies
    them all as ``target`` (the smallest, the largest, 8 random); else None."""
    free = length - len(national)
    tails = ["0" * free, "9" * free]
    tails += ["".join(rng.choice(DIGITS) for _ in range(free)) for _ in range(8)]
    regions = set()
    for tail in tails:
        number = phonenumbers.parse(f"+{cc}{national}{tail}")
        if phonenumbers.number_type(number) != TARGETS[target]:
            return None
        regions.add(phonenumbers.region_code_for_number(number))
    return (
        sorted(regions)[0] if len(regions) == 1 else phonenumbers.region_code_for_country_code(cc)
    )


def build() -> tuple[list[tuple[str, str, str, int, str]], list[str]]:
    """The list's rows (prefix, kind, country, length, source) and notes on what was left out."""
    version = phonenumbers.__version__
    rows: dict[str, tuple[str, str, str, int, str]] = {}
    notes: list[str] = []
    rng = random.Random(20261102)
    regions: list[tuple[str, int, PhoneMetadata]] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        md = PhoneMetadata.metadata_for_region(region)
        regions.append((region, md.country_code, md))
    for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        regions.append(("001", cc, PhoneMetadata.metadata_for_nongeo_region(cc)))
    policy = [p for p, *_ in POLICY]
    for region, cc, md in regions:
        for target in TARGETS:
            desc = getattr(md, target)
            if desc is None or not desc.national_number_pattern:
                continue
            found = Expansion(md, target).prefixes(MAX_PER_TYPE)
            if found is None:
                notes.append(
                    f"{region} +{cc} {target}: left out, more than {MAX_PER_TYPE} prefixes "
                    "(its numbers share prefixes with valid numbers of other types and lengths)"
                )
                continue
            if not found:
                notes.append(f"{region} +{cc} {target}: no prefix covers whole ranges, left out")
            dropped = 0
            for national, length in found:
                e164 = f"{cc}{national}"
                if any(e164.startswith(p) for p in policy):
                    continue
                where = _verified(cc, national, length, target, rng)
                if where is None:
                    dropped += 1
                    continue
                if e164 not in rows:
                    source = f"phonenumbers {version} metadata {target.upper()}"
                    rows[e164] = (e164, target, where, len(str(cc)) + length, source)
            if dropped:
                notes.append(f"{region} +{cc} {target}: {dropped} prefixes classified otherwise "
                             "by phonenumbers (another region of the code), left out")  # fmt: skip
    # a prefix under another listed prefix of the same kind adds nothing
    kept = {}
    for p, row in sorted(rows.items()):
        if any(p[:k] in kept and kept[p[:k]][1] == row[1] for k in range(1, len(p))):
            continue
        kept[p] = row
    out = [(p, kind, country, length, source) for p, kind, country, length, source in POLICY]
    out += sorted(kept.values())
    return sorted(out), notes


HEADER = """\
# Tandem high-risk destination ranges: E.164 prefixes (digits, no +), longest match wins.
# BUILT by scripts/build_high_risk.py; do not edit by hand (rebuild instead).
# Sources:
#  - phonenumbers {version} (https://github.com/daviddrysdale/python-phonenumbers), a port
#    of Google's libphonenumber metadata, Apache License 2.0: the PREMIUM_RATE and
#    SHARED_COST number types of every region, expanded from the metadata's national number
#    patterns to the shortest prefixes whose numbers (at `length`) are all of that type.
#  - Tandem policy (Apache License 2.0, as Tandem): the ITU international network codes
#    881, 882, 883 and the Universal International Premium Rate code 979.
# Columns: prefix, kind (premium_rate | shared_cost | international_network), country
# (ISO 3166 region, 001 = non-geographic), length (digits of one valid full number in the
# range, country code included), source.
# Region types the expansion left out, and why:
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=OUT, help="where to write (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    rows, notes = build()
    lines = [HEADER.format(version=phonenumbers.__version__)]
    lines += [f"# {note}\n" for note in notes]
    lines += ["prefix,kind,country,length,source\n"]
    body = io.StringIO()
    csv.writer(body, lineterminator="\n").writerows(rows)
    args.out.write_text("".join(lines) + body.getvalue(), encoding="utf-8")
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r[1]] = kinds.get(r[1], 0) + 1
    print(f"wrote {args.out} ({len(rows)} prefixes: "
          + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())) + ")")  # fmt: skip
    for note in notes:
        print("  " + note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
