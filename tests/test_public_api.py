"""The flat public API: every name in ``tandem.__all__`` resolves."""

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
