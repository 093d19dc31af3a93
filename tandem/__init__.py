"""Tandem: Class 4 wholesale voice routing and rating.

The public API is re-exported here; the modules behind it are implementation.
"""

from tandem.errors import (
    CdrError,
    ConfigError,
    DeckError,
    EnumLookupError,
    MoneyError,
    NumberError,
    SnapshotError,
    StoreError,
    TandemError,
    UnknownCarrierError,
    UnknownCustomerError,
)
from tandem.money import (
    SCALE,
    MoneyPolicy,
    Rounding,
    format_money,
    from_scaled,
    parse_decimal,
    to_scaled,
)
from tandem.store import DeckVersion, Store

__version__ = "0.1.0"

__all__ = [
    "CdrError",
    "ConfigError",
    "DeckError",
    "DeckVersion",
    "EnumLookupError",
    "MoneyError",
    "MoneyPolicy",
    "NumberError",
    "Rounding",
    "SCALE",
    "SnapshotError",
    "Store",
    "StoreError",
    "TandemError",
    "UnknownCarrierError",
    "UnknownCustomerError",
    "__version__",
    "format_money",
    "from_scaled",
    "parse_decimal",
    "to_scaled",
]
