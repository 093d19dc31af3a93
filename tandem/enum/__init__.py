"""ENUM (RFC 6116) and number portability lookups.

* :class:`EnumResolver`: DNS NAPTR lookups with a time budget, caches and single-flight;
* :class:`LocalPortTable`: numbers and number blocks from portability files (checked
  before DNS with :class:`ChainedLookup`), also the rater's ``port_lookup``;
* :mod:`tandem.enum.types`: the :class:`NumberInfo` contract the router and rater use.
"""

from tandem.enum.local import (
    ChainedLookup,
    ImportSummary,
    LocalPortTable,
    PortEntry,
    import_port_csv,
    import_ports,
    read_port_csv,
)
from tandem.enum.naptr import NaptrRecord, apply_regexp, parse_services
from tandem.enum.resolver import EnumResolver, EnumResult, Server
from tandem.enum.teluri import TelUri, parse_sip_tel_user, parse_tel_uri
from tandem.enum.types import LookupKind, NumberInfo, NumberLookup

__all__ = [
    "ChainedLookup",
    "EnumResolver",
    "EnumResult",
    "ImportSummary",
    "LocalPortTable",
    "LookupKind",
    "NaptrRecord",
    "NumberInfo",
    "NumberLookup",
    "PortEntry",
    "Server",
    "TelUri",
    "apply_regexp",
    "import_port_csv",
    "import_ports",
    "parse_services",
    "parse_sip_tel_user",
    "parse_tel_uri",
    "read_port_csv",
]
