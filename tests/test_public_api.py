"""The flat public API: every name in ``tandem.__all__`` resolves."""

import subprocess
import sys
from pathlib import Path

import tandem


def test_every_public_name_resolves():
    for name in tandem.__all__:
        assert getattr(tandem, name) is not None, name


def test_unknown_name_is_an_attribute_error():
    try:
        tandem.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_errors_share_one_base():
    for name in tandem.__all__:
        obj = getattr(tandem, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, tandem.TandemError), name


def test_dir_lists_every_public_name():
    assert set(tandem.__all__) <= set(dir(tandem))


def test_store_names_load_on_first_use():
    """``import tandem`` loads money, instants, numbers and errors only; ``from tandem import
    Store`` then loads the store (SQLAlchemy, pandas) and gives the same class as
    ``tandem.store.Store``."""
    code = (
        "import sys, tandem\n"
        "heavy = ('sqlalchemy', 'pandas', 'numpy', 'pyarrow')\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "from tandem import DeckVersion, Store\n"
        "import tandem.store\n"
        "assert Store is tandem.store.Store and DeckVersion is tandem.store.DeckVersion\n"
        "assert tandem.Store is Store and 'sqlalchemy' in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
