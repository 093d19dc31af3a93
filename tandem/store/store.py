"""The rate store: one SQLAlchemy engine (SQLite by default, PostgreSQL alike).

The store is the edge where decks become rows, and the only place that speaks SQL.
Everything above it reads through :class:`Store` methods: rating reads rates as a pandas
DataFrame (:meth:`Store.rates`), the LCR compiler the rows in force at one instant
(:meth:`Store.in_force`), the deck import and diff an account's stored rows
(:meth:`Store.rate_history`, :meth:`Store.earlier_rows`), ENUM its local portability
table (:meth:`Store.ported_numbers`, :meth:`Store.write_ported_numbers`).
"""

from __future__ import annotations

import functools
import itertools
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import Engine, create_engine, event, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from tandem.errors import ConcurrentWriteError, StoreError
from tandem.instant import InstantLike, parse_instant
from tandem.store.columns import OPEN_END, STORED_COLUMNS, TERM_DEFAULTS, TERMS, TEXT_COLUMNS
from tandem.store.credit import (
    CreditAccount,
    charge_credit,
    check_customer,
    select_credit_account,
    select_credit_accounts,
    upsert_credit,
)
from tandem.store.deletion import DeckDeletion, rebuilt_windows
from tandem.store.dialect import account_scan, driver_connection, qmark
from tandem.store.history import earlier_rows, empty_history, rate_history
from tandem.store.in_force import InForce, read_in_force
from tandem.store.models import CARRIER, CUSTOMER, Account, Deck, DeckClose
from tandem.store.plans import (
    StoredPlan,
    check_plan_kind,
    insert_plan,
    select_plan_history,
    select_plan_in_force,
    select_plan_versions,
)
from tandem.store.ported import (
    PortedEntry,
    PortedImport,
    StoredPortedNumber,
    ported_numbers,
    write_ported_numbers,
)
from tandem.store.safety import check_url, describe_db_error, masked_url, scrub, url_secrets
from tandem.store.windows import CUT_SET, CUT_WHERE

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

    from tandem.store.warehouse import WarehouseLoad

__all__ = [
    "Store", "DeckVersion", "DeckDeletion", "AccountInfo", "default_db_url", "database_url",
    "OPEN_END",
]  # fmt: skip


_KINDS = (CARRIER, CUSTOMER)


def default_db_url() -> str:
    """The database URL from ``TANDEM_DB`` (a path or a URL), else ``./tandem.db``."""
    return os.environ.get("TANDEM_DB") or "tandem.db"


def database_url(db: str | os.PathLike[str]) -> str:
    """The SQLAlchemy URL of ``db``: a URL as given (``postgresql://`` meaning psycopg 3),
    a path as a SQLite file."""
    text_ = os.fspath(db)
    if "://" in text_:
        if text_.startswith("postgresql://") or text_.startswith("postgres://"):
            # psycopg 3 is the driver Tandem installs; plain postgresql:// means it.
            text_ = "postgresql+psycopg://" + text_.split("://", 1)[1]
        return text_
    return f"sqlite:///{Path(text_).expanduser()}"


def _is_db_error(exc: BaseException) -> bool:
    """True for an error raised by the database or its driver (SQLAlchemy, sqlite3, or
    psycopg when the driver's own cursor was used for a bulk copy)."""
    return isinstance(exc, SQLAlchemyError | sqlite3.Error) or type(exc).__module__.startswith(
        "psycopg"
    )


#: SQLSTATEs of PostgreSQL errors that mean "someone else wrote at the same time":
#: serialization failure, deadlock, lock not available (a unique violation, 23505, counts
#: when it is on an account or a deck version: see _CONFLICT_MARKS).
_CONFLICT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
#: What SQLite and PostgreSQL say when two writers meet on an account or a deck version.
_CONFLICT_MARKS = (
    "database is locked",
    "uq_decks_account_version",
    "uq_accounts_kind_name",
    "decks.account_id, decks.version",
    "accounts.kind, accounts.name",
)


def _is_conflict(exc: BaseException) -> bool:
    """True when ``exc`` says another writer stored the same account at the same time."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in _CONFLICT_SQLSTATES:
        return True
    text_ = str(orig)
    if sqlstate == "23505" or isinstance(orig, sqlite3.IntegrityError | sqlite3.OperationalError):
        return any(mark in text_ for mark in _CONFLICT_MARKS)
    return False


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(
    action: str,
) -> Callable[[Callable[Concatenate[Store, _P], _R]], Callable[Concatenate[Store, _P], _R]]:
    """Turn a database error inside a :class:`Store` method into one :class:`StoreError`
    line (``action``: what was being done), without SQL, parameters or password."""

    def wrap(method: Callable[Concatenate[Store, _P], _R]) -> Callable[Concatenate[Store, _P], _R]:
        @functools.wraps(method)
        def guarded(self: Store, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                if not _is_db_error(exc):
                    raise
                raise self.db_error(action, exc) from exc

        return guarded

    return wrap


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """A carrier or customer known to the store."""

    id: int
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class DeckVersion:
    """One imported deck version, as stored."""

    id: int
    account: str
    kind: str
    version: int
    currency: str
    mode: str
    source_name: str
    source_sha256: str
    imported_at: datetime
    effective_from: datetime
    row_count: int
    decimals: int
    rounding: str
    timezone: str


class Store:
    """A Tandem rate store.

    ``Store()`` opens ``$TANDEM_DB`` or ``./tandem.db``; ``Store("routes.db")`` a SQLite
    file; ``Store("postgresql://127.0.0.1/test")`` PostgreSQL. The schema is created or
    upgraded (Alembic) when the store is opened, unless ``migrate=False``.

    ``url`` is the database URL as shown to people, its password replaced by ``***``
    (so is ``repr(store)`` and every error message); the engine alone holds the secret.
    A PostgreSQL URL must name its database; a SQLite path must be a new name, an empty
    file or a SQLite database (a text file, an image or a FIFO is refused untouched).
    Database errors come out as :class:`~tandem.errors.StoreError`, one line without SQL.
    """

    def __init__(self, db: str | os.PathLike[str] | None = None, *, migrate: bool = True):
        real = database_url(db if db is not None else default_db_url())
        self._secrets = url_secrets(real)
        self.url = masked_url(real)
        check_url(real, self.url)
        try:
            self.engine: Engine = create_engine(real, future=True)
        except (SQLAlchemyError, ImportError, ValueError, TypeError) as exc:
            reason = scrub(describe_db_error(exc), self._secrets)
            raise StoreError(f"cannot open database {self.url!r}: {reason}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        if migrate:
            self.upgrade()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def db_error(self, action: str, exc: BaseException) -> StoreError:
        """The one-line :class:`StoreError` for a database error met while ``action``."""
        reason = describe_db_error(exc, self._secrets)
        return StoreError(f"{action} ({self.url}): {reason}")

    def write_error(self, action: str, exc: BaseException, conflict: str) -> StoreError:
        """The error for a database error met while writing: :class:`ConcurrentWriteError`
        with ``conflict`` when another writer got there first, else :meth:`db_error`."""
        if _is_conflict(exc):
            return ConcurrentWriteError(conflict)
        return self.db_error(action, exc)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------
    def upgrade(self, revision: str = "head") -> None:
        """Create or upgrade the schema to ``revision`` with Alembic."""
        from alembic import command
        from alembic.config import Config

        ini = Path(__file__).with_name("alembic.ini")
        cfg = Config(str(ini))
        cfg.set_main_option("script_location", str(ini.with_name("migrations")))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except Exception as exc:
            if not _is_db_error(exc):
                raise
            reason = describe_db_error(exc, self._secrets)
            raise StoreError(f"cannot open database {self.url!r}: {reason}") from exc

    @_guarded("cannot read the schema revision")
    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None before the first upgrade)."""
        from alembic.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    # -- accounts -------------------------------------------------------------------
    @_guarded("cannot read the accounts")
    def accounts(self, kind: str | None = None) -> list[AccountInfo]:
        """Every carrier and customer (or only one ``kind``), by name."""
        stmt = select(Account.id, Account.kind, Account.name).order_by(Account.kind, Account.name)
        if kind is not None:
            _check_kind(kind)
            stmt = stmt.where(Account.kind == kind)
        with self.engine.connect() as conn:
            return [AccountInfo(*row) for row in conn.execute(stmt)]

    def find_account(self, name: str, kind: str | None = None) -> AccountInfo | None:
        """The account called ``name`` (of ``kind`` when given), or None."""
        found = [a for a in self.accounts(kind) if a.name == name]
        if len(found) > 1:
            raise StoreError(
                f"{name!r} is both a carrier and a customer: say which (--carrier or --customer)"
            )
        return found[0] if found else None

    # -- decks ----------------------------------------------------------------------
    @_guarded("cannot read the deck versions")
    def decks(self, account: str | None = None, kind: str | None = None) -> list[DeckVersion]:
        """Deck versions, oldest first, optionally for one account or kind."""
        stmt = (
            select(Deck.__table__, Account.name.label("a_name"), Account.kind.label("a_kind"))
            .join(Account, Deck.account_id == Account.id)
            .order_by(Account.kind, Account.name, Deck.version)
        )
        if account is not None:
            stmt = stmt.where(Account.name == account)
        if kind is not None:
            _check_kind(kind)
            stmt = stmt.where(Account.kind == kind)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [_deck_version(row, row.a_name, row.a_kind) for row in rows]

    # -- rates (rating, the LCR compiler, the deck diff) -----------------------------
    @_guarded("cannot read the rates")
    def rates(
        self,
        *,
        kind: str | None = None,
        accounts: Iterable[str] | None = None,
        at: InstantLike | None = None,
        deck_id: int | None = None,
    ) -> pd.DataFrame:
        """Rate rows as a DataFrame, money as scaled int64, times as UTC epoch seconds.

        Columns: ``account, kind, deck_id, version, currency, decimals, rounding,
        timezone, prefix, destination, rate, connect_fee, initial_increment,
        next_increment, min_duration, effective_from, effective_until, change, line``.
        ``effective_until`` is :data:`OPEN_END` for open-ended rows. With ``at`` only the
        rows in force at that instant; without it, the whole history (rows whose
        validity window is empty, i.e. superseded before they began, are left out).
        """
        if kind is not None:
            _check_kind(kind)
        names: set[str] | None = set(accounts) if accounts is not None else None
        clauses = ["(r.effective_until IS NULL OR r.effective_until > r.effective_from)"]
        params: dict[str, object] = {}
        if at is not None:
            clauses.append(
                "r.effective_from <= :at AND (r.effective_until IS NULL OR r.effective_until > :at)"
            )
            params["at"] = parse_instant(at)
        if deck_id is not None:
            clauses.append("r.deck_id = :deck_id")
            params["deck_id"] = int(deck_id)
        with self.engine.connect() as conn:
            # The few accounts and decks first; the many rate rows are read in chunks of
            # plain columns and given their account's and deck's fields by id afterwards
            # (holding one Python row object per rate row cost 9 GB for 6 M rows).
            acct = conn.execute(text("SELECT id, kind, name FROM accounts ORDER BY id")).all()
            decks = conn.execute(
                text(
                    "SELECT id, version, currency, decimals, rounding, timezone FROM decks "
                    "ORDER BY id"
                )
            ).all()
            wanted = [
                a.id
                for a in acct
                if (kind is None or a.kind == kind) and (names is None or a.name in names)
            ]
            if not wanted:
                return _empty_rates()
            if len(wanted) < len(acct):
                keys = []
                for i, account_id in enumerate(wanted):
                    params[f"a{i}"] = account_id
                    keys.append(f":a{i}")
                clauses.append(f"r.account_id IN ({', '.join(keys)})")
            sql = (
                f"SELECT {', '.join('r.' + c for c in _RATE_SELECT)} FROM rates r WHERE "
                + " AND ".join(clauses)
                + " ORDER BY r.account_id, r.prefix, r.effective_from"
            )
            result = conn.execution_options(stream_results=True).execute(text(sql), params)
            chunks = []
            while rows := result.fetchmany(_FETCH_ROWS):
                chunks.append(_rate_columns(rows))
        if not chunks:
            return _empty_rates()
        cols = {}
        for name in list(chunks[0]):  # one column at a time: the chunks go as they are joined
            cols[name] = np.concatenate([c.pop(name) for c in chunks])
        del chunks
        # Accounts in (kind, name) order, each account's rows in (prefix, from) order.
        acct_ids = np.asarray([a.id for a in acct], dtype=np.int64)
        by_name = sorted(range(len(acct)), key=lambda i: (acct[i].kind, acct[i].name))
        rank = np.empty(len(acct), dtype=np.int64)
        rank[by_name] = np.arange(len(acct))
        a_pos = np.searchsorted(acct_ids, cols.pop("account_id"))
        order = np.argsort(rank[a_pos], kind="stable")
        a_pos = a_pos[order]
        deck_ids = np.asarray([d.id for d in decks], dtype=np.int64)
        d_pos = np.searchsorted(deck_ids, cols["deck_id"][order])

        def per(rows: Sequence[Any], field: str, pos: np.ndarray) -> np.ndarray:
            values = np.empty(len(rows), dtype=object)
            values[:] = [getattr(r, field) for r in rows]
            return values[pos]

        frame = {
            "account": per(acct, "name", a_pos),
            "kind": per(acct, "kind", a_pos),
            "deck_id": cols["deck_id"][order],
            "version": per(decks, "version", d_pos).astype(np.int64),
            "currency": per(decks, "currency", d_pos),
            "decimals": per(decks, "decimals", d_pos).astype(np.int64),
            "rounding": per(decks, "rounding", d_pos),
            "timezone": per(decks, "timezone", d_pos),
        }
        del cols["deck_id"]
        for name in list(cols):  # reordered one column at a time, each original let go
            cols[name] = cols.pop(name)[order]
        frame.update(cols)
        frame["line"] = pd.arrays.IntegerArray(frame["line"], frame.pop("line_missing"))
        # Each column built with its final dtype: a plain DataFrame would first turn the
        # text columns into Arrow strings, and astype(object) back (11 s for 6 M rows).
        return pd.DataFrame(
            {c: pd.Series(frame[c], dtype=t, copy=False) for c, t in _RATE_FRAME_DTYPES.items()}
        )

    @_guarded("cannot read the rates in force")
    def in_force(self, at: InstantLike) -> InForce:
        """The rate rows in force at instant ``at``, deck by deck, with the validity window.

        Built for the LCR compiler (:func:`tandem.lcr.compile_table`): each column is one
        int64 array per deck (prefix digits too, when every prefix is a plain number),
        and rate terms with one value on every row in force travel once. See
        :mod:`tandem.store.in_force`.
        """
        return read_in_force(self.engine, parse_instant(at))

    @_guarded("cannot read the rate history")
    def rate_history(
        self, account: str, kind: str, *, since: InstantLike | None = None
    ) -> pd.DataFrame:
        """``account``'s stored rate rows with a non-empty validity window (what a deck
        import is compared with): ``prefix, rate, effective_from, effective_until``.

        Only those four columns, read fast (:meth:`rates` builds the full frame, which is
        slow for a million-code account); ``effective_until`` is :data:`OPEN_END` when
        open. With ``since``, rows that ended before that instant are left out: for one
        prefix the stored windows do not overlap, so such a row can be neither the rate in
        force at any instant from ``since`` on nor shadow the one that is. An unknown
        account has no rows.
        """
        _check_kind(kind)
        found = self.find_account(account, kind)
        if found is None:
            return empty_history()
        since_s = None if since is None else parse_instant(since)
        return rate_history(self.engine, found.id, since_s)

    @_guarded("cannot read the earlier deck versions")
    def earlier_rows(self, deck: DeckVersion) -> pd.DataFrame:
        """Every rate row the versions before ``deck`` (same account) stored, as they stand
        now, voided rows included: ``prefix, rate, effective_from, effective_until,
        version`` (``effective_until`` :data:`OPEN_END` when open; ``version`` of the deck
        that stored the row). The version diff rebuilds the earlier codes from these.
        """
        return earlier_rows(self.engine, deck.id)

    # -- writing a deck ---------------------------------------------------------------
    def write_deck(
        self,
        account: str,
        kind: str,
        rates: pd.DataFrame,
        *,
        currency: str,
        mode: str = "full",
        effective_from: InstantLike,
        source_name: str = "",
        source_sha256: str = "",
        decimals: int = 4,
        rounding: str = "half-up",
        timezone: str = "UTC",
        expect_version: int | None = None,
    ) -> DeckVersion:
        """Store a new deck version for ``account`` atomically (the whole version or nothing).

        ``expect_version``: the account's latest version when the caller compared the
        deck with the stored rates (0 for none; :meth:`latest_version`). When another
        import stored a version since, or runs at the same time, nothing is stored and
        :class:`~tandem.errors.ConcurrentWriteError` says "another import of NAME is
        running": the caller's comparison is stale, so the import must be run again.

        ``rates`` has the :data:`~tandem.store.RATE_COLUMNS` (money as scaled int64, times
        as UTC epoch seconds; one row's ``effective_from`` may differ from the deck's;
        ``destination`` and the :data:`~tandem.store.TERMS` are optional), plus optional
        ``line`` (source line), ``change`` (New/Increase/...) and ``closed`` (bool: the
        row closes the prefix at its ``effective_from`` and adds no rate).

        Supersession, per prefix P of the account, with R the earliest incoming
        ``effective_from`` for P: stored rows of P that begin at or after R are voided
        (their window becomes empty) and rows in force at R end at R. In ``full`` mode
        every other stored prefix of the account ends at the deck's ``effective_from``
        (a full A-Z deck lists every code the account still sells). Several incoming rows
        for one prefix chain in time: each ends where the next begins.
        """
        _check_kind(kind)
        if mode not in ("full", "delta"):
            raise StoreError(f"deck mode must be 'full' or 'delta', got {mode!r}")
        deck_from = parse_instant(effective_from)
        frame = _normalise_incoming(rates, deck_from)
        try:
            with self.engine.begin() as conn:
                account_id = _ensure_account(conn, kind, account)
                latest = _latest_version(conn, account_id)
                if expect_version is not None and latest != expect_version:
                    raise ConcurrentWriteError(_another_import(account, kind, latest))
                version = 1 + latest
                live = frame[~frame["closed"]]
                deck_id = conn.execute(
                    insert(Deck).returning(Deck.id),
                    {
                        "account_id": account_id,
                        "version": version,
                        "currency": currency.upper(),
                        "mode": mode,
                        "source_name": source_name,
                        "source_sha256": source_sha256,
                        "imported_at": datetime.now(UTC).replace(tzinfo=None),
                        "effective_from": deck_from,
                        "row_count": int(len(live)),
                        "decimals": int(decimals),
                        "rounding": str(rounding),
                        "timezone": timezone,
                    },
                ).scalar_one()
                _supersede(conn, account_id, frame, mode, deck_from)
                _bulk_insert_rates(conn, deck_id, account_id, live)
                _insert_closes(conn, deck_id, frame[frame["closed"]])
                deck = conn.execute(select(Deck.__table__).where(Deck.id == deck_id)).one()
                return _deck_version(deck, account, kind)
        except Exception as exc:
            if not _is_db_error(exc):
                raise
            raise self.write_error(
                f"could not store the deck for {account!r}", exc, _another_import(account, kind)
            ) from exc

    @_guarded("cannot read the deck versions")
    def latest_version(self, account: str, kind: str) -> int:
        """The latest deck version stored for ``account`` (0 when it has none)."""
        _check_kind(kind)
        with self.engine.connect() as conn:
            found = conn.execute(
                text("SELECT id FROM accounts WHERE kind = :k AND name = :n"),
                {"k": kind, "n": account},
            ).scalar()
            return 0 if found is None else _latest_version(conn, int(found))

    # -- deleting a deck version ---------------------------------------------------------
    def delete_deck(
        self,
        account: str,
        kind: str,
        version: int,
        *,
        dry_run: bool = False,
        check: Callable[[DeckDeletion], None] | None = None,
    ) -> DeckDeletion:
        """Delete ``account``'s deck ``version`` atomically, giving the account's other
        rows back the windows they would have without it (:mod:`tandem.store.deletion`).

        Deleting the latest version restores exactly the state before it was imported
        (the account too is removed when it has no version left). ``check`` is called
        with the facts (later versions, when the version was first in force) inside the
        transaction, before anything changes, and may raise to refuse; with ``dry_run``
        everything is computed and nothing is written.
        """
        _check_kind(kind)
        try:
            with self.engine.connect() as conn, conn.begin() as transaction:
                deletion = _delete_deck(conn, account, kind, int(version), dry_run, check)
                if dry_run:
                    transaction.rollback()
                return deletion
        except Exception as exc:
            if not _is_db_error(exc):
                raise
            raise self.write_error(
                f"could not delete version {version} of {account!r}",
                exc,
                f"another change to {account} ({kind}) ran at the same time: nothing was "
                "deleted; run this command again",
            ) from exc

    # -- plans (routing and tariff plans, versioned; SQL in tandem.store.plans) -------------
    @_guarded("could not store the plan")
    def write_plan(
        self,
        kind: str,
        plan_text: str,
        *,
        effective_from: InstantLike,
        source_name: str = "",
        imported_at: datetime | None = None,
    ) -> StoredPlan:
        """Store ``plan_text`` (TOML, verbatim) as the next ``routing`` or ``tariff`` plan
        version, in force from ``effective_from``; the versions it supersedes are cut in
        the same transaction (see :mod:`tandem.store.plans`). The text is not validated
        here: :func:`tandem.lcr.plans.import_plan` does that first."""
        check_plan_kind(kind)
        try:
            with self.engine.begin() as conn:
                return insert_plan(
                    conn,
                    kind,
                    plan_text,
                    effective_from=parse_instant(effective_from),
                    source_name=source_name,
                    imported_at=imported_at or datetime.now(UTC),
                )
        except SQLAlchemyError as exc:
            raise self.db_error(f"could not store the {kind} plan", exc) from exc

    @_guarded("cannot read the plan versions")
    def plan_versions(self, kind: str | None = None) -> list[StoredPlan]:
        """Every stored plan version (voided ones too), by kind, then version."""
        with self.engine.connect() as conn:
            return select_plan_versions(conn, kind)

    @_guarded("cannot read the plan in force")
    def plan_in_force(self, kind: str, at: InstantLike) -> StoredPlan | None:
        """The ``routing`` or ``tariff`` plan version in force at ``at``, or None."""
        with self.engine.connect() as conn:
            return select_plan_in_force(conn, kind, parse_instant(at))

    @_guarded("cannot read the plan history")
    def plan_history(
        self, kind: str, since: InstantLike | None = None, until: InstantLike | None = None
    ) -> list[StoredPlan]:
        """The versions of ``kind`` in force at some instant of ``[since, until)``
        (unbounded where None), by effective date; voided versions left out."""
        with self.engine.connect() as conn:
            return select_plan_history(
                conn,
                kind,
                None if since is None else parse_instant(since),
                None if until is None else parse_instant(until),
            )

    # -- credit accounts (balance and credit limit; SQL in tandem.store.credit) ---------
    @_guarded("cannot read the credit account")
    def credit_account(self, customer: str) -> CreditAccount | None:
        """The credit account (balance, credit limit) of ``customer``, or None."""
        with self.engine.connect() as conn:
            return select_credit_account(conn, check_customer(customer))

    @_guarded("cannot read the credit accounts")
    def credit_accounts(self) -> list[CreditAccount]:
        """Every customer's credit account, by customer name."""
        with self.engine.connect() as conn:
            return select_credit_accounts(conn)

    def set_credit(
        self,
        customer: str,
        *,
        balance: int | None = None,
        credit_limit: int | None = None,
        currency: str | None = None,
        at: InstantLike,
    ) -> CreditAccount:
        """Set the balance and/or credit limit (scaled money) of ``customer`` at ``at``,
        creating its account (then ``currency`` is needed). Bad values are refused with
        :class:`~tandem.errors.StoreError` and nothing is written
        (:func:`tandem.store.credit.upsert_credit`)."""
        t = parse_instant(at)
        try:
            with self.engine.begin() as conn:
                return upsert_credit(
                    conn, customer, balance=balance, credit_limit=credit_limit,
                    currency=currency, at=t,
                )  # fmt: skip
        except Exception as exc:
            if not _is_db_error(exc):
                raise
            raise self.write_error(
                f"could not set the credit account of {customer!r}",
                exc,
                f"another change to the credit account of {customer!r} ran at the same time: "
                "nothing was written; run this command again",
            ) from exc

    @_guarded("could not charge the credit account")
    def charge_credit(self, customer: str, amount: int, *, at: InstantLike) -> CreditAccount:
        """Charge ``amount`` (scaled, >= 0) to ``customer``'s balance, atomically; returns
        the account after the charge (:func:`tandem.store.credit.charge_credit`)."""
        t = parse_instant(at)
        with self.engine.begin() as conn:
            return charge_credit(conn, customer, amount, at=t)

    # -- the CDR warehouse (rated_cdrs; SQL in tandem.store.warehouse) ----------------
    @_guarded("could not load the rated CDRs into the warehouse")
    def load_rated(
        self,
        batches: Iterable[pa.Table],
        *,
        source: str,
        period: tuple[int, int] | None = None,
    ) -> WarehouseLoad:
        """Load rated CDR tables (the rated Parquet file's batches, in order) into the
        table ``rated_cdrs``, in one transaction: all rows or none. Rows of the same CDRs
        (and of the rerated ``period``, UTC epoch seconds) are replaced
        (:func:`tandem.store.warehouse.load_rated`)."""
        from tandem.store.warehouse import load_rated

        with self.engine.begin() as conn:
            return load_rated(conn, batches, source=source, period=period)

    # -- local portability ------------------------------------------------------------
    @_guarded("cannot read the portability table")
    def ported_numbers(self) -> list[StoredPortedNumber]:
        """The active entries of the local portability / ENUM table, in import order."""
        return ported_numbers(self.engine)

    @_guarded("could not store the portability table")
    def write_ported_numbers(
        self,
        entries: Sequence[PortedEntry],
        *,
        source: str,
        replace: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> PortedImport:
        """Write portability entries atomically (all or nothing).

        Without ``replace`` an entry supersedes the active row of the same prefix (kept,
        marked inactive); with ``replace`` every active row is deactivated first (the file
        is the whole table). ``on_progress(n)`` is called as rows are written.
        """
        return write_ported_numbers(
            self.engine, entries, source=source, replace=replace, on_progress=on_progress
        )


#: The frame :meth:`Store.rates` returns: the account's and deck's fields, then the
#: stored rate columns (text as objects, ``line`` nullable, every other one int64).
_RATE_FRAME_DTYPES: dict[str, str] = {
    "account": "object",
    "kind": "object",
    "deck_id": "int64",
    "version": "int64",
    "currency": "object",
    "decimals": "int64",
    "rounding": "object",
    "timezone": "object",
    **{
        c: "object" if c in TEXT_COLUMNS else "Int64" if c == "line" else "int64"
        for c in STORED_COLUMNS
        if c not in ("deck_id", "account_id")
    },
}


#: Rate rows read per round trip by :meth:`Store.rates`.
_FETCH_ROWS = 100_000


#: The ``rates`` columns :meth:`Store.rates` reads, in order.
_RATE_SELECT = STORED_COLUMNS


def _rate_columns(rows: Sequence[Any]) -> dict[str, np.ndarray]:
    """One chunk of ``rates`` rows (:data:`_RATE_SELECT`) as arrays: text as objects,
    integers as int64, an open ``effective_until`` as :data:`OPEN_END`, a missing ``line``
    as -1 with ``line_missing`` set."""
    out: dict[str, np.ndarray] = {}
    for name, values in zip(_RATE_SELECT, zip(*rows, strict=True), strict=True):
        if name in TEXT_COLUMNS:
            out[name] = np.array(values, dtype=object)
        elif name in ("effective_until", "line"):
            nullable = pd.array(values, dtype="Int64")
            fill = OPEN_END if name == "effective_until" else -1
            out[name] = nullable.to_numpy(dtype=np.int64, na_value=fill)
            if name == "line":
                out["line_missing"] = nullable.isna()
        else:
            out[name] = np.array(values, dtype=np.int64)
    return out


def _empty_rates() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _RATE_FRAME_DTYPES.items()})


def _check_kind(kind: str) -> None:
    if kind not in _KINDS:
        raise StoreError(f"account kind must be 'carrier' or 'customer', got {kind!r}")


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _deck_version(d: Any, account: str, kind: str) -> DeckVersion:
    return DeckVersion(
        id=d.id,
        account=account,
        kind=kind,
        version=d.version,
        currency=d.currency,
        mode=d.mode,
        source_name=d.source_name,
        source_sha256=d.source_sha256,
        imported_at=d.imported_at.replace(tzinfo=UTC),
        effective_from=datetime.fromtimestamp(d.effective_from, UTC),
        row_count=d.row_count,
        decimals=d.decimals,
        rounding=d.rounding,
        timezone=d.timezone,
    )


def _insert_closes(conn: Connection, deck_id: int, closed: pd.DataFrame) -> None:
    """Record the codes the deck closed with a Closed status (they store no rate row)."""
    if closed.empty:
        return
    conn.execute(
        insert(DeckClose),
        [
            {"deck_id": int(deck_id), "prefix": str(p), "effective_from": int(t)}
            for p, t in zip(closed["prefix"], closed["effective_from"], strict=True)
        ],
    )


def _delete_deck(
    conn: Connection,
    account: str,
    kind: str,
    version: int,
    dry_run: bool,
    check: Callable[[DeckDeletion], None] | None,
) -> DeckDeletion:
    found = conn.execute(
        text("SELECT id FROM accounts WHERE kind = :k AND name = :n"), {"k": kind, "n": account}
    ).scalar()
    if found is None:
        raise StoreError(f"no {kind} {account!r}")
    account_id = int(found)
    decks = conn.execute(
        text(
            "SELECT id, version, mode, source_name, effective_from FROM decks "
            "WHERE account_id = :a ORDER BY version"
        ),
        {"a": account_id},
    ).fetchall()
    deck = next((d for d in decks if d.version == version), None)
    if deck is None:
        have = ", ".join(str(d.version) for d in decks) or "none"
        raise StoreError(f"{kind} {account!r} has no deck version {version} (versions: {have})")
    deck_id = int(deck.id)
    counts = conn.execute(
        text(
            "SELECT COUNT(*), MIN(CASE WHEN effective_until IS NULL "
            "OR effective_until > effective_from THEN effective_from END) "
            "FROM rates WHERE deck_id = :d"
        ),
        {"d": deck_id},
    ).one()
    closes = conn.execute(
        text("SELECT COUNT(*) FROM deck_closes WHERE deck_id = :d"), {"d": deck_id}
    ).scalar_one()
    deletion = DeckDeletion(
        account=account,
        kind=kind,
        version=version,
        deck_id=deck_id,
        source_name=deck.source_name,
        mode=deck.mode,
        effective_from=int(deck.effective_from),
        rates_deleted=int(counts[0]),
        closes_deleted=int(closes),
        later_versions=[int(d.version) for d in decks if d.version > version],
        in_force_from=None if counts[1] is None else int(counts[1]),
        account_deleted=len(decks) == 1,
        dry_run=dry_run,
    )
    if check is not None:
        check(deletion)
    _rows, changed = rebuilt_windows(conn, account_id, version)
    deletion.rates_restored = len(changed)
    if len(changed):
        _restore_windows(conn, changed["id"].to_numpy(), changed["new_until"].to_numpy())
    conn.execute(text("DELETE FROM rates WHERE deck_id = :d"), {"d": deck_id})
    conn.execute(text("DELETE FROM deck_closes WHERE deck_id = :d"), {"d": deck_id})
    conn.execute(text("DELETE FROM decks WHERE id = :d"), {"d": deck_id})
    if deletion.account_deleted:
        conn.execute(text("DELETE FROM accounts WHERE id = :a"), {"a": account_id})
    return deletion


def _restore_windows(conn: Connection, ids: np.ndarray, until: np.ndarray) -> None:
    """Set the rows ``ids`` to end at ``until`` (OPEN_END: open), set-based: the pairs go
    to a temporary table (multi-row inserts on SQLite, COPY on PostgreSQL) and one
    ``UPDATE ... FROM`` joins it to the rates."""
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE IF NOT EXISTS tandem_restore "
        "(id BIGINT PRIMARY KEY, until BIGINT NOT NULL)"
    )
    conn.exec_driver_sql("DELETE FROM tandem_restore")
    ends = np.where(until == OPEN_END, -1, until)
    _executemany(
        conn,
        "INSERT INTO tandem_restore (id, until) VALUES (?, ?)",
        list(zip(ids.tolist(), ends.tolist(), strict=True)),
    )
    try:
        conn.exec_driver_sql(
            "UPDATE rates SET effective_until = CASE WHEN t.until < 0 THEN NULL "
            "ELSE t.until END FROM tandem_restore t WHERE rates.id = t.id"
        )
    finally:
        conn.exec_driver_sql("DELETE FROM tandem_restore")


def _latest_version(conn: Connection, account_id: int) -> int:
    return int(
        conn.execute(
            text("SELECT COALESCE(MAX(version), 0) FROM decks WHERE account_id = :a"),
            {"a": account_id},
        ).scalar_one()
    )


def _another_import(account: str, kind: str, latest: int | None = None) -> str:
    stored = f", version {latest} was stored meanwhile" if latest else ""
    return (
        f"another import of {account} is running ({kind}; or it finished while this one "
        f"ran{stored}): nothing was stored; run this import again"
    )


def _ensure_account(conn: Connection, kind: str, name: str) -> int:
    found = conn.execute(
        text("SELECT id FROM accounts WHERE kind = :k AND name = :n"), {"k": kind, "n": name}
    ).scalar()
    if found is not None:
        return int(found)
    return int(
        conn.execute(
            insert(Account).returning(Account.id),
            {"kind": kind, "name": name, "created_at": datetime.now(UTC).replace(tzinfo=None)},
        ).scalar_one()
    )


def _text_values(series: pd.Series) -> np.ndarray:
    """A column as an object array of Python strings (numbers become their text).

    Repeated values share one string object (a deck's destination names repeat).
    """
    if not pd.api.types.is_string_dtype(series.dtype):
        series = series.astype(str)
    sample = series.iloc[:10_000]
    if len(series) < 1000 or sample.nunique(dropna=False) * 2 > len(sample):
        return series.to_numpy(dtype=object)  # mostly distinct (prefixes)
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    return np.asarray(uniques, dtype=object)[codes]


def _line_numbers(series: pd.Series) -> np.ndarray:
    """Source line numbers: int64 when every row has one, else objects with None."""
    if pd.api.types.is_integer_dtype(series.dtype) and not isinstance(
        series.dtype, pd.api.extensions.ExtensionDtype
    ):
        return series.to_numpy()
    return series.to_numpy(dtype=object)


def _in_prefix_order(prefixes: np.ndarray, starts: np.ndarray) -> bool:
    """True when rows are already ordered by prefix, then start (a deck sorted upstream)."""
    after, before = prefixes[1:], prefixes[:-1]
    later = after > before
    if later.all():
        return True
    return bool((later | ((after == before) & (starts[1:] >= starts[:-1]))).all())


def _normalise_incoming(rates: pd.DataFrame, deck_from: int) -> pd.DataFrame:
    missing = [c for c in ("prefix", "rate") if c not in rates.columns]
    if missing:
        raise StoreError(f"deck frame lacks column(s) {', '.join(missing)}")
    n = len(rates)
    columns = {
        "prefix": _text_values(rates["prefix"].reset_index(drop=True)),
        "destination": _text_values(_col(rates, "destination", "", n)),
        "rate": _col(rates, "rate", 0, n).astype("int64").to_numpy(),
        **{
            term: _col(rates, term, default, n).astype("int64").to_numpy()
            for term, default in TERM_DEFAULTS.items()
        },
        "effective_from": _col(rates, "effective_from", deck_from, n).astype("int64").to_numpy(),
        "change": _col(rates, "change", None, n).to_numpy(dtype=object),
        "line": _line_numbers(_col(rates, "line", None, n)),
        "closed": _col(rates, "closed", False, n).astype(bool).to_numpy(),
    }
    if n > 1 and not _in_prefix_order(columns["prefix"], columns["effective_from"]):
        # Order by prefix, then start (Arrow's sort: pandas sorts object strings slowly).
        import pyarrow as pa
        import pyarrow.compute as pc

        keys = pa.table(
            {
                "p": pa.array(columns["prefix"], type=pa.string()),
                "t": pa.array(columns["effective_from"]),
            }
        )
        order = pc.sort_indices(keys, sort_keys=[("p", "ascending"), ("t", "ascending")])
        columns = {name: values[order.to_numpy()] for name, values in columns.items()}
    # Object columns stay object (pandas would otherwise convert them to Arrow strings).
    frame = pd.DataFrame(
        {
            name: pd.Series(values, dtype=object) if values.dtype == object else values
            for name, values in columns.items()
        }
    )
    prefixes = columns["prefix"]
    starts = columns["effective_from"]
    same_next = np.zeros(n, dtype=bool)
    if n > 1:
        same_next[:-1] = prefixes[:-1] == prefixes[1:]
    until = np.full(n, -1, dtype=np.int64)  # -1: open-ended
    until[:-1] = np.where(same_next[:-1], starts[1:], -1)
    frame["effective_until"] = until
    return frame


def _col(frame: pd.DataFrame, name: str, default: object, n: int) -> pd.Series:
    if name in frame.columns:
        col = frame[name]
        if default is not None and col.isna().any():
            col = col.fillna(default)
        return col.reset_index(drop=True)
    return pd.Series([default] * n if n else [], dtype=object if default is None else None)


def _supersede(
    conn: Connection, account_id: int, frame: pd.DataFrame, mode: str, deck_from: int
) -> None:
    """Close or void the account's stored rows that the incoming rows supersede.

    ``frame`` is in prefix order, then start (:func:`_normalise_incoming`), so the first
    row of each prefix holds its earliest incoming start R. Set-based: one ``UPDATE``
    for a full deck whose prefixes all start at the deck's date (the weekly A-Z case:
    every stored prefix is cut at that date, no per-prefix lookup at all); otherwise the
    prefixes and their R go to a temporary table, one ``UPDATE ... FROM`` joins it to the
    account's rows, and in full mode one more ``UPDATE`` with ``NOT EXISTS`` (an
    anti-join on the temporary table's primary key) cuts the prefixes the deck leaves out.
    """
    if frame.empty and mode == "delta":
        return
    stored = conn.execute(
        text("SELECT 1 FROM rates WHERE account_id = :a LIMIT 1"), {"a": account_id}
    ).first()
    if stored is None:
        return  # nothing stored for this account: nothing to close or void
    prefixes = frame["prefix"].to_numpy(dtype=object)
    starts = frame["effective_from"].to_numpy(dtype=np.int64)
    first = np.ones(len(prefixes), dtype=bool)
    first[1:] = prefixes[1:] != prefixes[:-1]
    first_prefix, first_start = prefixes[first], starts[first]
    if mode == "full" and bool((first_start == deck_from).all()):
        scan = account_scan(conn, account_id)
        conn.exec_driver_sql(
            qmark(
                conn,
                f"UPDATE rates{scan} SET {CUT_SET.format(r='', c='?')} WHERE account_id = ? "
                f"AND {CUT_WHERE.format(r='', c='?')}",
            ),
            (deck_from, deck_from, account_id, deck_from, deck_from),
        )
        return
    _load_incoming(conn, first_prefix, first_start)
    try:
        # Listed prefixes: cut at their own earliest incoming start.
        conn.exec_driver_sql(
            qmark(
                conn,
                f"UPDATE rates SET {CUT_SET.format(r='rates.', c='i.eff')} "
                "FROM tandem_incoming i WHERE rates.account_id = ? AND rates.prefix = i.prefix "
                f"AND {CUT_WHERE.format(r='rates.', c='i.eff')}",
            ),
            (account_id,),
        )
        if mode == "full":
            # Prefixes the full deck does not list: cut at the deck's date.
            conn.exec_driver_sql(
                qmark(
                    conn,
                    f"UPDATE rates SET {CUT_SET.format(r='', c='?')} WHERE account_id = ? "
                    f"AND {CUT_WHERE.format(r='', c='?')} AND NOT EXISTS "
                    "(SELECT 1 FROM tandem_incoming i WHERE i.prefix = rates.prefix)",
                ),
                (deck_from, deck_from, account_id, deck_from, deck_from),
            )
    finally:
        conn.exec_driver_sql("DELETE FROM tandem_incoming")


def _load_incoming(conn: Connection, prefixes: np.ndarray, starts: np.ndarray) -> None:
    """Fill the temporary table ``tandem_incoming(prefix, eff)`` (one row per prefix)."""
    if conn.dialect.name == "sqlite":
        # Keyed on the prefix itself (no rowid): the join probes one B-tree.
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE IF NOT EXISTS tandem_incoming "
            "(prefix VARCHAR(16) PRIMARY KEY, eff BIGINT NOT NULL) WITHOUT ROWID"
        )
    else:
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE IF NOT EXISTS tandem_incoming "
            "(prefix VARCHAR(16) PRIMARY KEY, eff BIGINT NOT NULL)"
        )
    conn.exec_driver_sql("DELETE FROM tandem_incoming")
    _executemany(
        conn,
        "INSERT INTO tandem_incoming (prefix, eff) VALUES (?, ?)",
        list(zip(prefixes.tolist(), starts.tolist(), strict=True)),
    )
    if conn.dialect.name == "postgresql":
        # Temporary tables get no autovacuum statistics: without them the planner
        # guesses their size and may pick a nested loop over a million rows.
        conn.exec_driver_sql("ANALYZE tandem_incoming")


def _executemany(conn: Connection, sql: str, rows: Sequence[tuple]) -> None:
    if not rows:
        return
    raw = driver_connection(conn)
    if conn.dialect.name == "postgresql":
        table, cols = _insert_target(sql)
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    cur = raw.cursor()
    try:
        _sqlite_insert_many(cur, sql, rows)
    finally:
        cur.close()


#: Most bound parameters one SQLite statement gets (32766 since SQLite 3.32, else 999).
_SQLITE_MAX_PARAMS = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


def _sqlite_insert_many(cur: Any, sql: str, rows: Sequence[tuple]) -> None:
    """executemany with multi-row ``VALUES`` lists: SQLite runs far fewer statements.

    ``INSERT ... VALUES (?, ?)`` becomes ``INSERT ... VALUES (?, ?), (?, ?), ...`` for
    as many rows as fit in :data:`_SQLITE_MAX_PARAMS`; the last few rows use the
    one-row statement.
    """
    head, _, group = sql.rpartition("VALUES")
    group = group.strip()
    width = group.count("?")
    per_statement = min(500, _SQLITE_MAX_PARAMS // width) if width else 1
    if not head or per_statement <= 1 or len(rows) < per_statement:
        cur.executemany(sql, rows)
        return
    full = len(rows) - len(rows) % per_statement
    flat = list(itertools.chain.from_iterable(rows[:full]))
    _sqlite_execute_flat(cur, head, group, width, per_statement, flat)
    if full < len(rows):
        cur.executemany(sql, rows[full:])


def _sqlite_execute_flat(
    cur: Any, head: str, group: str, width: int, per_statement: int, flat: list
) -> None:
    """Run ``head VALUES group, group, ...`` over ``flat`` (row-major parameters)."""
    step = per_statement * width
    cur.executemany(
        f"{head}VALUES " + ", ".join([group] * per_statement),
        (flat[i : i + step] for i in range(0, len(flat), step)),
    )


def _insert_target(sql: str) -> tuple[str, str]:
    head = sql.split("VALUES")[0].strip()
    table = head.split()[2]
    cols = head[head.index("(") + 1 : head.rindex(")")]
    return table, cols


#: Rows whose parameters are built at a time on SQLite (bounds memory on big decks).
_SQLITE_BLOCK_ROWS = 100_000


def _bulk_insert_rates(conn: Connection, deck_id: int, account_id: int, live: pd.DataFrame) -> None:
    """Insert the new version's rate rows.

    Columns whose value is the same on every row (the deck and account ids always;
    often fees, increments, open-ended validity) are written as SQL literals on SQLite
    instead of being bound a million times; the rest are bound per row, a block of rows
    at a time.
    """
    if live.empty:
        return
    n = len(live)
    until = live["effective_until"].to_numpy()
    line = live["line"].to_numpy()
    change = live["change"].to_numpy(dtype=object)
    # Each column is a constant (int, str or None) or an array with one value per row.
    columns: dict[str, object] = {
        "deck_id": int(deck_id),
        "account_id": int(account_id),
        "prefix": live["prefix"].to_numpy(dtype=object),
        "destination": live["destination"].to_numpy(dtype=object),
    }
    for name in ("rate", *TERMS, "effective_from"):
        values = live[name].to_numpy(dtype=np.int64)
        columns[name] = int(values[0]) if (values == values[0]).all() else values
    if (until < 0).all():
        columns["effective_until"] = None
    else:
        columns["effective_until"] = np.asarray(
            [None if u < 0 else int(u) for u in until.tolist()], dtype=object
        )
    distinct = pd.unique(change)
    if len(distinct) == 1:
        columns["change"] = None if pd.isna(distinct[0]) else str(distinct[0])
    else:
        missing = pd.isna(change).tolist()
        columns["change"] = np.asarray(
            [None if m else str(c) for c, m in zip(change.tolist(), missing, strict=True)],
            dtype=object,
        )
    line_missing = (
        np.zeros(n, dtype=bool)
        if pd.api.types.is_integer_dtype(live["line"].dtype)
        else pd.isna(line)
    )
    if line_missing.all():
        columns["line"] = None
    elif not line_missing.any():
        columns["line"] = np.asarray(line, dtype=np.int64)
    else:
        columns["line"] = np.asarray(
            [
                None if m else int(x)
                for x, m in zip(line.tolist(), line_missing.tolist(), strict=True)
            ],
            dtype=object,
        )
    ordered = [columns[name] for name in STORED_COLUMNS]  # the INSERT's column order
    if conn.dialect.name != "sqlite":
        # COPY (PostgreSQL) takes every column per row.
        cells = [c.tolist() if isinstance(c, np.ndarray) else [c] * n for c in ordered]
        rows = list(zip(*cells, strict=True))
        _executemany(
            conn,
            f"INSERT INTO rates ({', '.join(STORED_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(STORED_COLUMNS))})",
            rows,
        )
        return
    arrays = [c for c in ordered if isinstance(c, np.ndarray)]  # per-row columns
    values_sql = ", ".join("?" if isinstance(c, np.ndarray) else _sql_literal(c) for c in ordered)
    head = f"INSERT INTO rates ({', '.join(STORED_COLUMNS)}) "
    group = f"({values_sql})"
    width = len(arrays)
    per_statement = max(1, min(500, _SQLITE_MAX_PARAMS // width))
    full = n - n % per_statement
    block = per_statement * max(1, _SQLITE_BLOCK_ROWS // per_statement)
    cur = driver_connection(conn).cursor()
    try:
        for start in range(0, full, block):
            stop = min(start + block, full)
            # Row-major parameters, interleaved column by column (no tuple per row).
            flat: list = [None] * ((stop - start) * width)
            for k, values in enumerate(arrays):
                flat[k::width] = values[start:stop].tolist()
            _sqlite_execute_flat(cur, head, group, width, per_statement, flat)
        if full < n:
            tails = [values[full:].tolist() for values in arrays]
            cur.executemany(head + "VALUES " + group, list(zip(*tails, strict=True)))
    finally:
        cur.close()


def _sql_literal(value: object) -> str:
    """A constant as an SQL literal (integers, NULL, or a quoted string)."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"
