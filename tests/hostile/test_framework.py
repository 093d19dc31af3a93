"""The hostile-test helper itself refuses what it should (so its passes mean something)."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import run_refused, store_fingerprint


def test_a_refused_import_leaves_the_store_and_prints_one_line(db, tmp_path):
    deck = tmp_path / "bad.csv"
    deck.write_text("prefix,destination,rate\n44,UK,abc\n")
    before = store_fingerprint(db)
    assert before
    # A rejected row is exit 1 with a list, not a one-line refusal: the helper must say so.
    with pytest.raises(AssertionError):
        run_refused(["deck", "import", str(deck), "--carrier", "atlas"], db)
    assert store_fingerprint(db) == before


def test_a_missing_file_is_one_line(db, tmp_path):
    run_refused(["deck", "import", str(tmp_path / "nope.csv"), "--carrier", "atlas"], db)


def test_an_os_error_the_command_did_not_expect_is_one_line(db, tmp_path, monkeypatch):
    import tandem.decks.importer as importer

    def full_disk(*_a, **_k):
        raise OSError(28, "No space left on device", str(tmp_path / "x.csv"))

    monkeypatch.setattr(importer, "import_deck", full_disk)
    deck = tmp_path / "d.csv"
    deck.write_text("prefix,destination,rate\n44,UK,0.01\n")
    run_refused(
        ["deck", "import", str(deck), "--carrier", "atlas"], db, names=["No space left", "x.csv"]
    )
