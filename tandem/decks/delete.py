"""Deleting a wrong deck version, and when Tandem refuses to.

:func:`delete_deck` removes one stored version of a carrier's or customer's deck with
:meth:`tandem.store.Store.delete_deck`, which gives the account's other rows back the
windows they would have had without it (deleting the latest version restores exactly the
state before it was imported). It refuses, unless forced, when something may depend on
the version:

* **later versions**: a later version of the account was imported over it (its diff was
  taken against it, and deleting it changes which rates are in force under the later
  ones);
* **rated CDRs**: the store does not record which CDRs were rated against which version,
  so a version counts as used once any of its rates has been in force at an instant
  before ``now``: CDRs of that period may have been rated with it and would price
  differently after the deletion (re-rate them).
"""

from __future__ import annotations

from tandem.errors import DeckError
from tandem.instant import InstantLike, format_instant, now_instant, parse_instant
from tandem.store import DeckDeletion, Store

__all__ = ["delete_deck", "dependents"]


def dependents(deletion: DeckDeletion, now: int) -> list[str]:
    """What depends on the version ``deletion`` describes, one phrase each (none: [])."""
    found = []
    if deletion.later_versions:
        later = ", ".join(str(v) for v in deletion.later_versions)
        found.append(
            f"later version(s) {later} were imported over it (deleting it changes the rates "
            "in force under them)"
        )
    if deletion.in_force_from is not None and deletion.in_force_from <= now:
        found.append(
            f"its rates have been in force since {format_instant(deletion.in_force_from)}, "
            "so CDRs rated since then may have used it"
        )
    return found


def delete_deck(
    store: Store,
    account: str,
    kind: str,
    version: int,
    *,
    force: bool = False,
    dry_run: bool = False,
    now: InstantLike | None = None,
) -> DeckDeletion:
    """Delete ``account``'s deck ``version`` (a ``carrier`` or ``customer``).

    Refused with a :class:`~tandem.errors.DeckError`, nothing changed, when later
    versions or possibly rated CDRs depend on it (:func:`dependents`), unless ``force``.
    With ``dry_run`` the returned report says what would change and nothing is written.
    ``now`` pins the instant "in force before now" is judged at (tests); default the clock.
    """
    now_s = now_instant() if now is None else parse_instant(now)

    def refuse_when_used(deletion: DeckDeletion) -> None:
        found = dependents(deletion, now_s)
        if found and not force:
            raise DeckError(
                f"version {version} of {kind} {account!r} is not deleted: "
                + "; ".join(found)
                + " (--force deletes it anyway)"
            )
        deletion.forced = bool(found)

    return store.delete_deck(account, kind, version, dry_run=dry_run, check=refuse_when_used)
