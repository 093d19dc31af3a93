"""Serving Tandem to SIP proxies (HTTP route API, proxy adapters)."""

from tandem.serve.kamailio import KamailioSettings, TandemKemi

__all__ = ["KamailioSettings", "TandemKemi"]
