"""NAPTR records for ENUM: service parsing, ordering and regexp substitution.

* RFC 3403 (the NAPTR RR): records are taken by ascending ``order`` then ascending
  ``preference``; once a usable record is found at one ``order``, records of a higher
  ``order`` are not considered.
* RFC 3402 section 3.2 (the substitution expression)::

      subst-expr   = delim-char ere delim-char repl delim-char *flags
      delim-char   = any character except POS-DIGIT, "i" and "\\"
      repl         = *(string / backref)
      backref      = "\\" POS-DIGIT
      flags        = "i"

  The delimiter is whatever character the record starts with; inside ``ere`` and
  ``repl`` it is written ``\\<delim>``. ``\\1`` ... ``\\9`` in ``repl`` are the text the
  n-th parenthesised group of ``ere`` matched (empty when the group did not take part);
  ``\\\\`` is one backslash. The flag ``i`` makes the match case-insensitive.
* RFC 6116 (ENUM): the expression is applied to the Application Unique String, the
  E.164 number with a leading ``+`` and nothing else (``+442071234567``). The result is
  ``repl`` with its back-references filled in; the unmatched parts of the AUS are not
  carried over (RFC 3402 substitution rewrites the whole string, as ENUM clients such as
  Kamailio's ``enum`` module do). A record whose ``ere`` does not match does not apply.
* RFC 6116 section 3.4.1 / RFC 3761: the service field is ``E2U+type[:subtype][+...]``
  (case-insensitive); the RFC 2916 legacy form ``type+E2U`` is accepted too.

A DNS answer is untrusted input, so the ERE runs on RE2 (:mod:`re2`, the ``google-re2``
package), whose matching time grows linearly with the text and the expression: no
expression can make a lookup spend more than microseconds on a 16-digit AUS (with a
backtracking engine such as Python's :mod:`re`, ``^(.*)(.*)...(.*)Z$`` takes hours).
Constructs RE2 cannot run in linear time are refused
(:class:`~tandem.errors.RegexpRefusedError`, an :class:`~tandem.errors.EnumLookupError`):
back-references inside the ERE (RFC 3402 allows ``\\1`` ... ``\\9`` in ``repl`` only;
POSIX ERE has none), look-around, possessive quantifiers and repetition counts above
1000. POSIX bracket classes (``[[:digit:]]``) and the usual Perl shorthands (``\\d``)
are accepted. One difference from POSIX remains: POSIX picks the longest of ambiguous
alternatives (``(1|12)`` matches ``12``), RE2 (like Perl) the first (``1``), so a group
around ambiguous alternatives may capture differently; the usual ENUM expressions
(``^.*$``, ``^\\+44(.*)$``, fixed digit groups) are not ambiguous and behave identically.

Everything that cannot be parsed raises :class:`~tandem.errors.EnumLookupError`, never
another exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import re2

from tandem.errors import EnumLookupError, RegexpRefusedError

if TYPE_CHECKING:
    from dns.rdtypes.IN.NAPTR import NAPTR

__all__ = [
    "NaptrRecord",
    "SubstExpr",
    "Candidate",
    "parse_services",
    "parse_subst_expr",
    "apply_regexp",
    "order_records",
    "evaluate",
    "DEFAULT_SERVICES",
]

#: The enumservices an ENUM client for a voice switch asks for: on-net SIP (RFC 3764) and
#: number portability data as a tel or SIP URI (RFC 4769).
DEFAULT_SERVICES: tuple[str, ...] = ("sip", "pstn:tel", "pstn:sip")

_MAX_REGEXP = 255  # a DNS <character-string> holds at most 255 octets
_RE2_MAX_MEM = 8 << 20  # bytes RE2 may use per expression (beyond: slower, still linear)

_POSIX_CLASSES = {
    "[:digit:]": r"0-9",
    "[:alpha:]": r"a-zA-Z",
    "[:alnum:]": r"a-zA-Z0-9",
    "[:upper:]": r"A-Z",
    "[:lower:]": r"a-z",
    "[:space:]": r" \t\r\n\v\f",
    "[:blank:]": r" \t",
    "[:xdigit:]": r"0-9A-Fa-f",
    "[:punct:]": r"!-/:-@\[-`{-~",
}


@dataclass(frozen=True, slots=True)
class NaptrRecord:
    """One NAPTR resource record (RFC 3403 section 4.1), text fields decoded."""

    order: int
    preference: int
    flags: str
    services: str
    regexp: str
    replacement: str = "."
    ttl: int = 0

    @classmethod
    def from_rdata(cls, rdata: NAPTR, ttl: int = 0) -> NaptrRecord:
        """Build from a :class:`dns.rdtypes.IN.NAPTR.NAPTR` rdata."""
        return cls(
            order=int(rdata.order),
            preference=int(rdata.preference),
            flags=_text(rdata.flags),
            services=_text(rdata.service),
            regexp=_text(rdata.regexp),
            replacement=rdata.replacement.to_text(),
            ttl=int(ttl),
        )

    @property
    def enumservices(self) -> tuple[str, ...] | None:
        """The enumservices of an ENUM record (``("pstn:tel",)``), None when not E2U."""
        return parse_services(self.services)

    @property
    def terminal(self) -> bool:
        """True for the ``u`` flag: the result is a URI and the lookup ends (RFC 3404)."""
        return self.flags.lower() == "u"

    def to_text(self) -> str:
        """Presentation form, as in a zone file."""
        return (
            f'{self.order} {self.preference} "{self.flags}" "{self.services}" '
            f'"{_quote(self.regexp)}" {self.replacement}'
        )


def _text(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*(?::[A-Za-z0-9][A-Za-z0-9-]*)*")


def parse_services(services: str) -> tuple[str, ...] | None:
    """The enumservices in an ENUM service field, lower-cased (RFC 6116 section 3.4.1).

    ``"E2U+sip"`` → ``("sip",)``; ``"E2U+pstn:tel"`` → ``("pstn:tel",)``;
    ``"E2U+voice:tel+sip"`` → ``("voice:tel", "sip")``; the RFC 2916 form ``"sip+E2U"``
    → ``("sip",)``. A field that is not an ENUM service (``"SIP+D2U"``, ``""``, garbage)
    gives None.
    """
    parts = services.split("+")
    if len(parts) < 2:
        return None
    if parts[0].upper() == "E2U":
        rest = parts[1:]
    elif parts[-1].upper() == "E2U":
        rest = parts[:-1]
    else:
        return None
    if not all(_TOKEN.fullmatch(p) for p in rest):
        return None
    return tuple(p.lower() for p in rest)


@dataclass(frozen=True, slots=True)
class SubstExpr:
    """A parsed RFC 3402 substitution expression."""

    delimiter: str
    ere: str
    repl: str
    ignore_case: bool
    pattern: Any  # a compiled RE2 expression (re2 ships no type information)

    def apply(self, aus: str) -> str | None:
        """``repl`` with back-references filled from the first match in ``aus``, or None
        when ``ere`` does not match. Linear in ``len(aus)`` whatever the expression."""
        try:
            match = self.pattern.search(aus)
            if match is None:
                return None
            return _expand(self.repl, self.delimiter, match)
        except (re2.error, UnicodeError) as exc:  # text RE2 cannot take (not UTF-8)
            raise EnumLookupError(f"NAPTR regexp cannot be applied to {aus!r} ({exc})") from exc


@lru_cache(maxsize=4096)
def parse_subst_expr(text: str) -> SubstExpr:
    """Parse ``!ere!repl!flags`` (RFC 3402 section 3.2); raise EnumLookupError if invalid.

    Pure, so parsed expressions are memoised (the same few expressions serve millions of
    numbers)."""
    if not text:
        raise EnumLookupError("empty NAPTR regexp")
    if len(text) > _MAX_REGEXP:
        raise EnumLookupError(f"NAPTR regexp longer than {_MAX_REGEXP} characters")
    delim = text[0]
    if delim in "123456789i\\" or not delim.isprintable() or delim.isspace():
        raise EnumLookupError(f"NAPTR regexp {text!r}: {delim!r} cannot be the delimiter")
    fields: list[str] = []
    current: list[str] = []
    i = 1
    while i < len(text) and len(fields) < 2:
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                raise EnumLookupError(f"NAPTR regexp {text!r} ends with a lone backslash")
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == delim:
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    if len(fields) < 2:
        raise EnumLookupError(f"NAPTR regexp {text!r} lacks a closing {delim!r} delimiter")
    flags = text[i:]
    if flags not in ("", "i"):
        raise EnumLookupError(f"NAPTR regexp {text!r}: unknown flags {flags!r} (only 'i')")
    ere, repl = fields
    _check_repl(repl, delim, text)
    pattern = _compile(_ere_to_re2(ere, delim), ignore_case=flags == "i", text=text)
    if _max_backref(repl) > pattern.groups:
        raise EnumLookupError(
            f"NAPTR regexp {text!r}: back-reference \\{_max_backref(repl)} but only "
            f"{pattern.groups} group(s)"
        )
    return SubstExpr(delim, ere, repl, flags == "i", pattern)


def _compile(pattern_text: str, *, ignore_case: bool, text: str) -> Any:
    """The ERE compiled by RE2; :class:`RegexpRefusedError` when RE2 refuses it."""
    options = re2.Options()
    options.log_errors = False  # the refusal is reported, not logged to stderr
    options.case_sensitive = not ignore_case
    options.max_mem = _RE2_MAX_MEM
    try:
        return re2.compile(pattern_text, options)
    except (re2.error, UnicodeError, ValueError, TypeError) as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexpRefusedError(
            f"NAPTR regexp {text!r} refused: not an expression the linear-time engine runs "
            f"({reason}; back-references and look-around are not allowed in the pattern)"
        ) from exc


def _ere_to_re2(ere: str, delim: str) -> str:
    """Unescape ``\\<delim>`` and translate POSIX bracket classes (RE2 knows them too;
    translated so that the expression reads the same in either engine)."""
    out: list[str] = []
    i = 0
    while i < len(ere):
        ch = ere[i]
        if ch == "\\" and i + 1 < len(ere):
            nxt = ere[i + 1]
            out.append(re.escape(nxt) if nxt == delim else ere[i : i + 2])
            i += 2
            continue
        if ch == "[":
            for cls, chars in _POSIX_CLASSES.items():
                if ere.startswith(cls, i):
                    out.append(chars)
                    i += len(cls)
                    break
            else:
                out.append(ch)
                i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _check_repl(repl: str, delim: str, text: str) -> None:
    i = 0
    while i < len(repl):
        if repl[i] == "\\":
            if repl[i + 1] == "0":
                raise EnumLookupError(f"NAPTR regexp {text!r}: \\0 is not a back-reference")
            i += 2
        else:
            i += 1


def _max_backref(repl: str) -> int:
    best = 0
    i = 0
    while i < len(repl):
        if repl[i] == "\\":
            nxt = repl[i + 1]
            if nxt in "123456789":
                best = max(best, int(nxt))
            i += 2
        else:
            i += 1
    return best


def _expand(repl: str, delim: str, match: Any) -> str:
    out: list[str] = []
    i = 0
    while i < len(repl):
        ch = repl[i]
        if ch == "\\":
            nxt = repl[i + 1]
            if nxt in "123456789":
                out.append(match.group(int(nxt)) or "")
            else:
                out.append(nxt)  # \<delim>, \\ and any other escaped character: literal
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def apply_regexp(regexp: str, aus: str) -> str | None:
    """Apply an RFC 3402 substitution expression to an AUS (``+`` and digits).

    Returns the rewritten string, or None when the expression does not match; raises
    :class:`~tandem.errors.EnumLookupError` when the expression itself is invalid
    (:class:`~tandem.errors.RegexpRefusedError` when the matching engine refuses it).
    Runs in time linear in the AUS and the expression (RE2), so a hostile record cannot
    stall a call.
    """
    return parse_subst_expr(regexp).apply(aus)


def order_records(records: list[NaptrRecord] | tuple[NaptrRecord, ...]) -> list[NaptrRecord]:
    """Records by ascending order then preference (RFC 3403 section 4.1), stable."""
    return sorted(records, key=lambda r: (r.order, r.preference))


@dataclass(frozen=True, slots=True)
class Candidate:
    """One ENUM record as the selection saw it.

    ``status`` is ``chosen``, ``skipped`` (not usable: ``reason`` says why) or
    ``not-considered`` (a record after the chosen one). ``regexp_refused`` is True when
    the record was skipped because its regexp was refused (malformed, or beyond what the
    linear-time engine runs): the resolver counts those.
    """

    record: NaptrRecord
    service: str | None
    uri: str | None
    status: str
    reason: str = ""
    regexp_refused: bool = False


def evaluate(
    records: list[NaptrRecord] | tuple[NaptrRecord, ...],
    aus: str,
    services: tuple[str, ...] = DEFAULT_SERVICES,
    accept: Callable[[str, str], object] | None = None,
) -> list[Candidate]:
    """Walk the ENUM records of one domain in RFC 3403 order and pick the first usable one.

    A record is usable when it is an E2U record with one of ``services``, carries the
    terminal flag ``u`` and its regexp matches the AUS producing a ``sip:``, ``sips:`` or
    ``tel:`` URI that ``accept(service, uri)`` (when given) does not reject by raising
    :class:`~tandem.errors.EnumLookupError` (the resolver checks tel URIs that way, so a
    broken ``rn`` moves on to the next record).

    Non-terminal records (empty flags: "look up the replacement domain next", RFC 3761
    section 2.4.1) are skipped and reported: ENUM deployments for voice
    routing publish terminal records, and following a delegation chain would spend the
    call's time budget on a rarely used feature. Records of other applications (not E2U)
    are left out of the result altogether.
    """
    wanted = {s.lower() for s in services}
    out: list[Candidate] = []
    chosen = False
    for record in order_records(list(records)):
        enumservices = record.enumservices
        if enumservices is None:
            continue
        service = next((s for s in enumservices if s in wanted), None)
        if chosen:
            out.append(Candidate(record, service, None, "not-considered"))
            continue
        if service is None:
            out.append(
                Candidate(record, None, None, "skipped", f"service {record.services} not wanted")
            )
            continue
        if not record.terminal:
            reason = (
                "non-terminal record (empty flags) not followed"
                if record.flags == ""
                else f"flag {record.flags!r} is not the ENUM terminal flag 'u'"
            )
            out.append(Candidate(record, service, None, "skipped", reason))
            continue
        try:
            uri = apply_regexp(record.regexp, aus)
        except EnumLookupError as exc:
            out.append(Candidate(record, service, None, "skipped", f"malformed: {exc}", True))
            continue
        if uri is None:
            out.append(Candidate(record, service, None, "skipped", f"regexp does not match {aus}"))
            continue
        scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
        if scheme not in ("sip", "sips", "tel"):
            out.append(
                Candidate(record, service, uri, "skipped", f"malformed: {uri!r} is not a URI")
            )
            continue
        if accept is not None:
            try:
                accept(service, uri)
            except EnumLookupError as exc:
                out.append(Candidate(record, service, uri, "skipped", f"malformed: {exc}"))
                continue
        out.append(Candidate(record, service, uri, "chosen"))
        chosen = True
    return out
