"""One check for every table of the routing TOML: keys it does not know are refused."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from tandem.errors import ConfigError

__all__ = ["refuse_unknown_keys"]


def refuse_unknown_keys(
    keys: Iterable[str], allowed: Collection[str], where: str, listed: Sequence[str]
) -> None:
    """Raise :class:`~tandem.errors.ConfigError` naming the keys of the table at ``where``
    that are not in ``allowed``, and the keys a user may write there (``listed``, in the
    order shown)."""
    unknown = set(keys) - set(allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(listed)}"
        )
