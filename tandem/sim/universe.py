"""The destinations generated traffic calls: real E.164 ranges, fixed and mobile, with a
sell rate, a typical answer-seizure ratio and a typical call length each.

:data:`DESTINATIONS` is ordered by traffic: the first destination carries the most calls
(the generator gives rank ``r`` a Zipf-like share ``1 / r**s``). The ranges follow each
country's numbering plan (country code, area or mobile code, and the length of a full
number), so every generated number looks like a real one; the rates, ASRs and ACDs are
plausible wholesale figures, not any carrier's prices.

:data:`EXPENSIVE` are destinations no generated customer calls in normal traffic (their
sell rate is far above the rest): the ``first_call`` fraud pattern uses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Destination", "DESTINATIONS", "EXPENSIVE"]


@dataclass(frozen=True, slots=True)
class Destination:
    """One destination: numbers starting with ``prefix`` and ``length`` digits long."""

    prefix: str
    name: str
    kind: str  # "fixed" | "mobile"
    length: int  # digits of a full E.164 number, country code included
    sell_rate: Decimal  # per minute
    asr: float  # typical share of attempts answered
    acd: int  # typical answered call length, seconds


# country, country code, (fixed length, fixed ranges), (mobile length, mobile ranges),
# (fixed rate, mobile rate), ASR, ACD seconds. Ranges are written after the country code.
_PLAN: list[tuple[str, str, int, str, int, str, str, str, float, int]] = [
    ("United States", "1", 11, "212 213 312 305 415 617 702 713 202 404 646 818", 0, "",
     "0.0040", "0.0040", 0.55, 190),
    ("United Kingdom", "44", 12, "20 121 161 131 141 113", 12, "71 73 74 75 77 78 79",
     "0.0060", "0.0120", 0.58, 170),
    ("India", "91", 12, "11 22 80 44", 12, "98 99 70 63", "0.0150", "0.0120", 0.52, 230),
    ("Mexico", "52", 12, "55 33 81 22", 0, "", "0.0080", "0.0080", 0.48, 160),
    ("Germany", "49", 12, "30 40 89 69", 13, "151 152 157 160 170 171 176",
     "0.0070", "0.0200", 0.57, 175),
    ("Canada", "1", 11, "416 514 604 403", 0, "", "0.0050", "0.0050", 0.56, 185),
    ("France", "33", 11, "1 2 4 5", 11, "6 7", "0.0070", "0.0200", 0.55, 165),
    ("Nigeria", "234", 11, "1", 13, "703 803 806 813 905", "0.0600", "0.0900", 0.45, 200),
    ("Philippines", "63", 11, "2", 12, "9", "0.1000", "0.1200", 0.47, 215),
    ("Pakistan", "92", 12, "21 42 51", 12, "3", "0.0500", "0.0700", 0.46, 220),
    ("China", "86", 13, "10 21 20", 13, "13 15 18", "0.0100", "0.0100", 0.53, 180),
    ("Spain", "34", 11, "91 93 95", 11, "6 7", "0.0080", "0.0150", 0.56, 160),
    ("Italy", "39", 12, "02 06", 12, "320 333 347 380", "0.0080", "0.0180", 0.55, 170),
    ("Bangladesh", "880", 12, "2", 13, "17 18 19", "0.0200", "0.0250", 0.44, 210),
    ("Brazil", "55", 12, "112 213 313", 13, "119 219", "0.0100", "0.0300", 0.50, 175),
    ("Egypt", "20", 11, "2", 12, "10 11 12", "0.0600", "0.0800", 0.47, 190),
    ("Poland", "48", 11, "22 12", 11, "50 51 53 60 66 69 79", "0.0080", "0.0100", 0.56, 150),
    ("Romania", "40", 11, "21", 11, "72 73 74 75 76", "0.0100", "0.0300", 0.55, 160),
    ("Morocco", "212", 12, "5", 12, "6 7", "0.0800", "0.2500", 0.49, 180),
    ("Turkey", "90", 12, "212 216 312", 12, "53 54 55", "0.0200", "0.0400", 0.52, 170),
    ("Vietnam", "84", 11, "24 28", 11, "9 3", "0.0500", "0.0600", 0.49, 200),
    ("Colombia", "57", 12, "601 604", 12, "3", "0.0300", "0.0200", 0.50, 165),
    ("Russia", "7", 11, "495 499 812", 11, "9", "0.0300", "0.0500", 0.51, 180),
    ("Netherlands", "31", 11, "20 10", 11, "6", "0.0080", "0.0300", 0.58, 150),
    ("Saudi Arabia", "966", 12, "11", 12, "50 55", "0.0500", "0.0800", 0.50, 190),
    ("Ghana", "233", 12, "30", 12, "24 54 20", "0.1200", "0.2000", 0.44, 200),
    ("Kenya", "254", 12, "20", 12, "7", "0.0500", "0.1000", 0.46, 190),
    ("Ukraine", "380", 12, "44", 12, "50 67 93", "0.0600", "0.0900", 0.50, 180),
    ("South Africa", "27", 11, "11 21", 11, "72 82 83", "0.0200", "0.0500", 0.52, 165),
    ("Australia", "61", 11, "2 3 7 8", 11, "4", "0.0100", "0.0300", 0.57, 170),
    ("Dominican Republic", "1", 11, "809 829 849", 0, "", "0.0500", "0.0500", 0.48, 190),
    ("Indonesia", "62", 12, "21", 13, "8", "0.0400", "0.0600", 0.46, 190),
    ("Israel", "972", 11, "2 3", 12, "50 52 54", "0.0100", "0.0200", 0.56, 160),
    ("Argentina", "54", 12, "11", 13, "911", "0.0200", "0.0800", 0.50, 175),
    ("Peru", "51", 10, "1", 11, "9", "0.0200", "0.0500", 0.49, 170),
    ("Sri Lanka", "94", 11, "11", 11, "7", "0.1000", "0.1200", 0.47, 210),
    ("Portugal", "351", 12, "21", 12, "91 93 96", "0.0100", "0.0200", 0.56, 150),
    ("Venezuela", "58", 12, "212", 12, "412 414 424", "0.0500", "0.1000", 0.43, 185),
    ("Senegal", "221", 12, "33", 12, "77 78", "0.1800", "0.2500", 0.44, 200),
    ("Haiti", "509", 11, "2", 11, "3 4", "0.2500", "0.3000", 0.40, 190),
    ("Ireland", "353", 11, "1", 12, "83 85 86 87", "0.0100", "0.0200", 0.57, 150),
    ("Greece", "30", 12, "210", 12, "69", "0.0100", "0.0300", 0.55, 160),
    ("Jamaica", "1", 11, "876", 0, "", "0.1500", "0.1500", 0.45, 195),
    ("Cameroon", "237", 12, "2", 12, "6", "0.1500", "0.2000", 0.43, 200),
    ("Ethiopia", "251", 12, "11", 12, "9", "0.2500", "0.3000", 0.40, 210),
    ("Ivory Coast", "225", 13, "27", 13, "07", "0.1500", "0.2000", 0.43, 195),
    ("Algeria", "213", 11, "21", 12, "5 6 7", "0.0600", "0.3500", 0.45, 190),
    ("Tunisia", "216", 11, "71", 11, "2 5 9", "0.2500", "0.3000", 0.47, 175),
    ("Japan", "81", 11, "3 6", 12, "80 90 70", "0.0200", "0.0600", 0.57, 150),
    ("South Korea", "82", 11, "2", 12, "10", "0.0200", "0.0300", 0.56, 150),
    ("Thailand", "66", 10, "2", 11, "8 9 6", "0.0200", "0.0300", 0.52, 165),
    ("Malaysia", "60", 11, "3", 11, "1", "0.0200", "0.0300", 0.53, 160),
    ("Singapore", "65", 10, "6", 10, "8 9", "0.0100", "0.0100", 0.58, 140),
    ("Hong Kong", "852", 11, "2 3", 11, "9 6", "0.0100", "0.0100", 0.58, 140),
    ("Chile", "56", 11, "2", 11, "9", "0.0100", "0.0200", 0.53, 160),
    ("Guatemala", "502", 11, "2", 11, "5", "0.1000", "0.1500", 0.46, 180),
    ("El Salvador", "503", 11, "2", 11, "7", "0.1000", "0.1500", 0.46, 180),
    ("Honduras", "504", 11, "2", 11, "9", "0.1500", "0.2000", 0.44, 185),
    ("Belgium", "32", 10, "2", 11, "470 475 485", "0.0090", "0.0400", 0.57, 150),
    ("Switzerland", "41", 11, "22 44", 11, "76 78 79", "0.0100", "0.0500", 0.58, 150),
    ("Austria", "43", 11, "1", 12, "664 676 699", "0.0100", "0.0400", 0.57, 150),
    ("Sweden", "46", 11, "8", 11, "70 72 73", "0.0100", "0.0200", 0.58, 140),
    ("Norway", "47", 10, "22", 10, "4 9", "0.0100", "0.0200", 0.58, 140),
    ("Denmark", "45", 10, "3", 10, "20 40", "0.0100", "0.0200", 0.58, 140),
    ("United Arab Emirates", "971", 11, "4", 12, "50 55", "0.1200", "0.1500", 0.50, 180),
    ("Iran", "98", 12, "21", 12, "9", "0.1000", "0.1200", 0.42, 200),
    ("Iraq", "964", 11, "1", 13, "75 77 78", "0.1000", "0.1500", 0.42, 190),
    ("Lebanon", "961", 10, "1", 11, "3 70 71", "0.1200", "0.2000", 0.46, 180),
    ("Jordan", "962", 11, "6", 12, "77 78 79", "0.1000", "0.1500", 0.47, 175),
    ("Nepal", "977", 11, "1", 13, "98", "0.1000", "0.1200", 0.44, 210),
    ("Afghanistan", "93", 11, "20", 11, "7", "0.2500", "0.3000", 0.38, 200),
    ("New Zealand", "64", 10, "9", 11, "21 22 27", "0.0100", "0.0500", 0.57, 150),
]  # fmt: skip

# Destinations priced far above the rest: never called by normal generated traffic.
_EXPENSIVE: list[tuple[str, str, str, int, str]] = [
    ("537", "Cuba", "fixed", 10, "0.9500"),
    ("535", "Cuba", "mobile", 10, "1.0500"),
    ("252", "Somalia", "fixed", 11, "1.2000"),
    ("2399", "Sao Tome and Principe", "mobile", 10, "1.1000"),
    ("245", "Guinea-Bissau", "mobile", 12, "0.9500"),
    ("291", "Eritrea", "fixed", 10, "1.0000"),
    ("246", "Diego Garcia", "fixed", 10, "2.0000"),
    ("688", "Tuvalu", "fixed", 8, "1.6000"),
    ("682", "Cook Islands", "fixed", 8, "1.3000"),
    ("500", "Falkland Islands", "fixed", 8, "1.5000"),
]


def _build() -> list[Destination]:
    fixed: list[Destination] = []
    mobile: list[Destination] = []
    for name, cc, flen, franges, mlen, mranges, frate, mrate, asr, acd in _PLAN:
        for i, r in enumerate(franges.split()):
            # later ranges of a country carry a little less traffic: small ASR/ACD spread
            fixed.append(
                Destination(cc + r, f"{name} fixed", "fixed", flen, Decimal(frate),
                            round(asr - 0.01 * (i % 3), 2), acd + 7 * (i % 4))
            )  # fmt: skip
        for i, r in enumerate(mranges.split()):
            mobile.append(
                Destination(cc + r, f"{name} mobile", "mobile", mlen, Decimal(mrate),
                            round(asr + 0.03 - 0.01 * (i % 3), 2), acd - 15 + 5 * (i % 4))
            )  # fmt: skip
    # Order by traffic: a country's weight falls with its place in the plan (Zipf), its
    # ranges share it, mobile ranges first (most international calls end on a mobile),
    # each next range 0.6 times the one before.
    weighted: list[tuple[float, int, Destination]] = []
    for c, (name, *_rest) in enumerate(_PLAN):
        ranges = [d for d in fixed + mobile if d.name.rsplit(" ", 1)[0] == name]
        ranges.sort(key=lambda d: (_ordinal(d), d.kind != "mobile"))
        for j, d in enumerate(ranges):
            weighted.append((1.0 / (c + 1) * 0.6**j, len(weighted), d))
    weighted.sort(key=lambda t: (-t[0], t[1]))
    return [d for _w, _i, d in weighted]


def _ordinal(d: Destination) -> int:
    """The position of a range among its country's ranges of the same kind."""
    for name, cc, _fl, franges, _ml, mranges, *_ in _PLAN:
        if d.name.startswith(name + " "):
            ranges = franges.split() if d.kind == "fixed" else mranges.split()
            if d.prefix.startswith(cc) and d.prefix[len(cc) :] in ranges:
                return ranges.index(d.prefix[len(cc) :])
    return 0


#: Every normal destination, biggest first.
DESTINATIONS: tuple[Destination, ...] = tuple(_build())

#: Destinations normal traffic never calls (sell rate 0.95 and up per minute).
EXPENSIVE: tuple[Destination, ...] = tuple(
    Destination(p, f"{n} {k}", k, length, Decimal(rate), 0.45, 150)
    for p, n, k, length, rate in _EXPENSIVE
)
