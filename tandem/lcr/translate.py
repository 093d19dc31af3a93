"""Number translation: what a customer dials, normalised to E.164 digits before routing.

Rules are data (a ``[customers.NAME.translate]`` table in the routing TOML), applied in
this order:

1. visual separators (space, ``-``, ``.``, ``(``, ``)``; RFC 3966 section 5.1.1) are removed;
2. a **tech prefix** the customer prepends to pick a product (``#123``, ``1234#``) is
   removed (longest listed first) and remembered;
3. ``strip`` leading digits are removed, then ``add`` digits are prepended;
4. ``+`` or an **international access code** (``00``, ``011``, ...; longest first) marks
   an international number: the rest is E.164;
   a **national trunk prefix** (``0`` in most of Europe) marks a national number: it is
   replaced by ``country_code``; anything else is E.164 already (``assume = "e164"``, the
   wholesale default) or a national number without trunk prefix (``assume = "national"``);
5. the result must be 1 to 15 digits, not starting with ``0`` (ITU-T E.164 section 6).

Anything else (letters, a stray ``#``/``*``, an empty number) raises
:class:`~tandem.errors.NumberError` saying exactly what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tandem.errors import ConfigError, NumberError

__all__ = ["TranslationRules", "Translation", "translate", "normalize", "E164_MAX_DIGITS"]

#: ITU-T E.164: at most 15 digits including the country code.
E164_MAX_DIGITS = 15
_SEPARATORS = str.maketrans("", "", " -.()\t")
_DIGITS = frozenset("0123456789")


@dataclass(frozen=True, slots=True)
class TranslationRules:
    """One customer's translation rules (see the module docstring for the order)."""

    tech_prefixes: tuple[str, ...] = ()
    strip: int = 0
    add: str = ""
    international_prefixes: tuple[str, ...] = ("+", "00")
    national_prefix: str = ""
    country_code: str = ""
    assume: str = "e164"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "translate") -> TranslationRules:
        """Read rules from a TOML table; unknown keys or wrong types raise ConfigError."""
        allowed = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - allowed
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )

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
            international_prefixes=strings("international_prefixes", ("+", "00")),
            national_prefix=digits("national_prefix"),
            country_code=digits("country_code"),
            assume=assume,
        )
        if (rules.national_prefix or assume == "national") and not rules.country_code:
            raise ConfigError(f"{where}: national numbers need a country_code")
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
    if rules is DEFAULT_RULES and type(number) is str and number.isascii():
        # Fast paths: plain E.164 digits, or + and digits, under the default rules.
        digits = number[1:] if number[:1] == "+" else number
        if digits.isdigit() and len(digits) <= E164_MAX_DIGITS and digits[0] != "0":
            return digits, ""
    t = translate(number, rules)
    return t.normalized, t.tech_prefix


def translate(number: str, rules: TranslationRules = DEFAULT_RULES) -> Translation:
    """Normalise ``number`` to E.164 digits with ``rules``; NumberError if impossible."""
    if not isinstance(number, str):
        raise NumberError(f"number must be text, got {type(number).__name__}")
    steps: list[str] = []
    text = number.strip().translate(_SEPARATORS)
    if not text:
        raise NumberError("empty number: nothing to route")
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
    if not text:
        raise NumberError(f"number {number!r} has no digits left after translation")
    if not (text.isascii() and text.isdigit()):
        bad = next(ch for ch in text if ch not in _DIGITS)
        raise NumberError(
            f"number {number!r} contains {bad!r}: only digits (and a leading + or a "
            "configured tech prefix) can be routed"
        )
    if len(text) > E164_MAX_DIGITS:
        raise NumberError(_too_long(number, text))
    if text[0] == "0":
        raise NumberError(_leading_zero(number, text))
    return Translation(number, text, tech, tuple(steps))


def _too_long(number: str, digits: str) -> str:
    return (
        f"number {number!r} normalises to {len(digits)} digits; E.164 allows at most "
        f"{E164_MAX_DIGITS}"
    )


def _leading_zero(number: str, digits: str) -> str:
    return (
        f"number {number!r} normalises to {digits!r}, which starts with 0: no E.164 country "
        "code does; configure the customer's national_prefix/country_code or send E.164"
    )
