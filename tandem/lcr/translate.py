"""Number translation: what a customer dials, normalised to E.164 digits before routing.

Rules are data (a ``[customers.NAME.translate]`` table in the routing TOML), applied in
this order:

1. separators (space, ``-``, ``.``, ``(``, ``)``...; :data:`tandem.numbers.SEPARATORS`)
   are removed;
2. a **tech prefix** the customer prepends to pick a product (``#123``, ``1234#``) is
   removed (longest listed first) and remembered;
3. ``strip`` leading digits are removed, then ``add`` digits are prepended;
4. ``+`` or an **international access code** (``00``, ``011``, ...; longest first) marks
   an international number: the rest is E.164;
   a **national trunk prefix** (``0`` in most of Europe) marks a national number: it is
   replaced by ``country_code``; anything else is E.164 already (``assume = "e164"``, the
   wholesale default) or a national number without trunk prefix (``assume = "national"``);
5. the result must be an E.164 number: 1 to 15 digits, not starting with ``0``
   (:func:`tandem.numbers.check_digits`).

Without rules of its own a customer gets :data:`DEFAULT_RULES`, which are exactly the
rules of :mod:`tandem.numbers` (international prefixes ``+``, ``00``, ``011``; nothing
else), so a number translates to what :func:`tandem.numbers.e164_digits` reads.

Anything else (letters, a stray ``#``/``*``, an empty number) raises
:class:`~tandem.errors.NumberError` saying exactly what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tandem.errors import ConfigError
from tandem.lcr.configkeys import refuse_unknown_keys
from tandem.numbers import INTERNATIONAL_PREFIXES, check_digits, compact, e164_digits

__all__ = ["TranslationRules", "Translation", "DEFAULT_RULES", "translate", "normalize"]

_DIGITS = frozenset("0123456789")


@dataclass(frozen=True, slots=True)
class TranslationRules:
    """One customer's translation rules (see the module docstring for the order).

    The defaults are the rules of :mod:`tandem.numbers`. A customer with a
    ``national_prefix`` dials in its own country's plan and lists that plan's
    ``international_prefixes``: :meth:`from_mapping` insists when the national prefix
    begins a default international prefix (``0`` and ``00``/``011``).
    """

    tech_prefixes: tuple[str, ...] = ()
    strip: int = 0
    add: str = ""
    international_prefixes: tuple[str, ...] = INTERNATIONAL_PREFIXES
    national_prefix: str = ""
    country_code: str = ""
    assume: str = "e164"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "translate") -> TranslationRules:
        """Read rules from a TOML table; unknown keys or wrong types raise ConfigError."""
        allowed = {f for f in cls.__dataclass_fields__}
        refuse_unknown_keys(data, allowed, where, sorted(allowed))

        def strings(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            value = data.get(key, list(default))
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{where}.{key} must be a list of non-empty strings")
            return tuple(sorted(value, key=len, reverse=True))

        def digits(key: str) -> str:
            value = data.get(key, "")
            if not isinstance(value, str) or (value and not set(value) <= _DIGITS):
                raise ConfigError(f"{where}.{key} must be a string of digits, got {value!r}")
            return value

        strip = data.get("strip", 0)
        if not isinstance(strip, int) or isinstance(strip, bool) or strip < 0:
            raise ConfigError(f"{where}.strip must be a whole number >= 0, got {strip!r}")
        assume = data.get("assume", "e164")
        if assume not in ("e164", "national"):
            raise ConfigError(f"{where}.assume must be 'e164' or 'national', got {assume!r}")
        rules = cls(
            tech_prefixes=strings("tech_prefixes", ()),
            strip=strip,
            add=digits("add"),
            international_prefixes=strings("international_prefixes", INTERNATIONAL_PREFIXES),
            national_prefix=digits("national_prefix"),
            country_code=digits("country_code"),
            assume=assume,
        )
        if (rules.national_prefix or assume == "national") and not rules.country_code:
            raise ConfigError(f"{where}: national numbers need a country_code")
        if rules.national_prefix and "international_prefixes" not in data:
            # 0113 is Leeds to a UK customer, but 011 is an international prefix by default.
            clash = [p for p in INTERNATIONAL_PREFIXES if p.startswith(rules.national_prefix)]
            if clash:
                raise ConfigError(
                    f"{where}: national_prefix {rules.national_prefix!r} begins the default "
                    f"international prefix(es) {', '.join(clash)}; list the customer's own "
                    "international_prefixes (e.g. ['+', '00'])"
                )
        return rules


@dataclass(frozen=True, slots=True)
class Translation:
    """The outcome: ``normalized`` E.164 digits (no ``+``), the tech prefix removed (if
    any) and the steps taken, for ``decision.explain()``."""

    dialed: str
    normalized: str
    tech_prefix: str = ""
    steps: tuple[str, ...] = field(default=())


DEFAULT_RULES = TranslationRules()


def normalize(number: str, rules: TranslationRules = DEFAULT_RULES) -> tuple[str, str]:
    """``(normalized, tech_prefix)`` of :func:`translate` without building the record
    (the router's per-call path). Same rules, same errors."""
    if rules is DEFAULT_RULES:  # the rules of tandem.numbers, nothing else
        return e164_digits(number), ""
    t = translate(number, rules)
    return t.normalized, t.tech_prefix


def translate(number: str, rules: TranslationRules = DEFAULT_RULES) -> Translation:
    """Normalise ``number`` to E.164 digits with ``rules``; NumberError if impossible."""
    steps: list[str] = []
    text = compact(number)
    tech = ""
    for tp in rules.tech_prefixes:
        if text.startswith(tp):
            tech, text = tp, text[len(tp) :]
            steps.append(f"tech prefix {tp!r} removed")
            break
    if rules.strip:
        text = text[rules.strip :]
        steps.append(f"{rules.strip} leading digit(s) stripped")
    if rules.add:
        text = rules.add + text
        steps.append(f"{rules.add!r} prepended")
    international = False
    for code in rules.international_prefixes:
        if text.startswith(code):
            text = text[len(code) :]
            international = True
            steps.append(f"international access code {code!r} removed")
            break
    if not international:
        if rules.national_prefix and text.startswith(rules.national_prefix):
            text = rules.country_code + text[len(rules.national_prefix) :]
            steps.append(
                f"national trunk prefix {rules.national_prefix!r} replaced by country code "
                f"{rules.country_code!r}"
            )
        elif rules.assume == "national":
            text = rules.country_code + text
            steps.append(f"national number: country code {rules.country_code!r} prepended")
    return Translation(number, check_digits(text, number), tech, tuple(steps))
