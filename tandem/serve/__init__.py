"""Serving Tandem to SIP proxies (HTTP route API, proxy adapters)."""
