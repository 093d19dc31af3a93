"""Customer trunk identification by source IP address or subnet (IPv4 and IPv6).

The way Asterisk's ``identify`` sections (``match=``) or Kamailio's ``permissions``
module map a signalling source address to a peer: each customer trunk lists addresses
and subnets; the **longest** matching subnet wins (a /32 inside a customer's /24 can
belong to another customer). Lookups use pytricia (a Patricia trie); an address no trunk
covers raises :class:`~tandem.errors.UnknownCustomerError`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

import pytricia

from tandem.errors import ConfigError, UnknownCustomerError

__all__ = ["Trunk", "TrunkTable"]


@dataclass(frozen=True, slots=True)
class Trunk:
    """A customer trunk: its name, the customer it belongs to and its source subnets."""

    name: str
    customer: str
    networks: tuple[str, ...]


#: Source addresses :meth:`TrunkTable.identify` remembers (a proxy's few peers, asked on
#: every call); past this many the memory is emptied and starts again.
_REMEMBERED = 4096


class TrunkTable:
    """Longest-match source-IP lookup over every customer trunk (IPv4 and IPv6). Each
    address found is remembered as given (a server asks for the same few on every call:
    parsing the address took most of the lookup); :meth:`add` forgets them all."""

    def __init__(self, trunks: Iterable[Trunk] = ()) -> None:
        self._v4 = pytricia.PyTricia(32)
        self._v6 = pytricia.PyTricia(128)
        self._found: dict[str, Trunk] = {}
        self.trunks: list[Trunk] = []
        for trunk in trunks:
            self.add(trunk)

    def add(self, trunk: Trunk) -> None:
        """Add a trunk; a subnet already claimed by another trunk raises ConfigError."""
        for text in trunk.networks:
            try:
                net = ipaddress.ip_network(text.strip(), strict=False)
            except ValueError as exc:
                raise ConfigError(
                    f"trunk {trunk.name!r}: {text!r} is not an IP address or subnet"
                ) from exc
            tree = self._v4 if net.version == 4 else self._v6
            key = str(net)
            if tree.has_key(key) and tree[key].name != trunk.name:  # noqa: W601 - exact match
                raise ConfigError(
                    f"subnet {key} is listed by trunks {tree[key].name!r} and {trunk.name!r}"
                )
            tree[key] = trunk
        self.trunks.append(trunk)
        self._found.clear()

    def __len__(self) -> int:
        return len(self.trunks)

    def identify(self, source_ip: str) -> Trunk:
        """The trunk whose longest subnet contains ``source_ip``.

        Raises :class:`UnknownCustomerError` for a malformed or unknown address.
        """
        found = self._found.get(source_ip)
        if found is not None:
            return found
        try:
            addr = ipaddress.ip_address(str(source_ip).strip().strip("[]"))
        except ValueError as exc:
            raise UnknownCustomerError(
                f"source IP {source_ip!r} is not an IPv4 or IPv6 address"
            ) from exc
        if addr.version == 6 and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        tree = self._v4 if addr.version == 4 else self._v6
        trunk = tree.get(str(addr))
        if trunk is None:
            raise UnknownCustomerError(
                f"source IP {addr} matches no customer trunk; add it to a trunk's `ips` "
                "in the routing config"
            )
        if type(source_ip) is str:
            if len(self._found) >= _REMEMBERED:
                self._found.clear()
            self._found[source_ip] = trunk
        return trunk
