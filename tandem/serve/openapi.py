"""The OpenAPI 3.1 schema of the HTTP route API (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_schema"]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _query(name: str, description: str, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string", **schema},
    }


_MONEY = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
_MONEY_OR_NULL = {"type": ["string", "null"], "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}


def openapi_schema() -> dict[str, Any]:
    """The schema: every path, parameter, response and error body."""
    route = {
        "type": "object",
        "required": [
            "carrier", "trunk", "prefix", "rate", "connect_fee", "margin", "initial_increment",
            "next_increment", "min_duration", "failover_codes", "stop_codes",
        ],
        "properties": {
            "carrier": {"type": "string"},
            "trunk": {"type": "string"},
            "prefix": {"type": "string"},
            "rate": _MONEY,
            "connect_fee": _MONEY,
            "margin": _MONEY_OR_NULL,
            "initial_increment": {"type": "integer"},
            "next_increment": {"type": "integer"},
            "min_duration": {"type": "integer"},
            "failover_codes": {"type": "array", "items": {"type": "integer"}},
            "stop_codes": {"type": "array", "items": {"type": "integer"}},
        },
    }  # fmt: skip
    decision = {
        "type": "object",
        "description": "The decision object of `tandem route --json` (with `max_duration`, "
        "`fraud` and `credit` when the server runs --fraud / --redis / --credit).",
        "required": [
            "number", "normalized", "customer", "at", "sell", "routes", "blocked", "reason",
            "dropped",
        ],
        "properties": {
            "number": {"type": "string"},
            "normalized": {"type": "string"},
            "customer": {"type": "string"},
            "at": {"type": "string"},
            "sell": {
                "type": "object",
                "required": ["prefix", "rate"],
                "properties": {"prefix": {"type": ["string", "null"]}, "rate": _MONEY_OR_NULL},
            },
            "routes": {"type": "array", "items": {"$ref": "#/components/schemas/Route"}},
            "blocked": {"type": "boolean"},
            "reason": {"type": "string"},
            "dropped": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["carrier", "reason"],
                    "properties": {"carrier": {"type": "string"}, "reason": {"type": "string"}},
                },
            },
            "routing_number": {"type": "string"},
            "trunk": {"type": "string"},
            "tech_prefix": {"type": "string"},
            "notes": {"type": "array", "items": {"type": "string"}},
            "max_duration": {"type": ["integer", "null"]},
            "fraud": {"type": "array", "items": {"type": "object"}},
            "credit": _MONEY,
        },
    }  # fmt: skip
    rt_route = {
        "type": "object",
        "required": ["uri", "dst_uri", "headers", "fr_timer", "fr_inv_timer"],
        "properties": {
            "uri": {"type": "string"},
            "dst_uri": {"type": "string"},
            "headers": {
                "type": "object",
                "required": ["extra"],
                "properties": {"extra": {"type": "string"}},
            },
            "fr_timer": {"type": "integer"},
            "fr_inv_timer": {"type": "integer"},
        },
    }
    blocked = {
        "type": "object",
        "required": ["code", "kind", "reason"],
        "properties": {
            "code": {"type": "integer"},
            "kind": {"type": "string"},
            "reason": {"type": "string"},
        },
    }
    rtjson = {
        "type": "object",
        "description": "Kamailio rtjson routing document.",
        "required": ["version", "routing", "routes"],
        "properties": {
            "version": {"const": "1.0"},
            "routing": {"const": "serial"},
            "routes": {"type": "array", "items": rt_route},
            "blocked": blocked,
        },
    }
    error = {
        "type": "object",
        "required": ["error", "reason"],
        "properties": {
            "error": {"type": "string"},
            "reason": {"type": "string"},
            "sip_code": {"type": "integer"},
        },
    }
    sip_text = {
        "type": "string",
        "description": "format=sip: the SIP answer, its code and reason phrase on the first "
        "line (`302 Moved Temporarily`, `403 Forbidden`, ...), then its header lines "
        "(`Contact: <sip:NUMBER@HOST>;q=...;carrier=...;rate=...;decision=...` per route, "
        'or `Reason: SIP ;cause=CODE ;text="..."`), each line ending in CRLF.',
    }
    undecided = {
        "description": "The call cannot be decided (bad number: sip_code 484; unknown "
        "customer or source IP: 403); with format=rtjson an rtjson document with `blocked`; "
        "with format=sip the SIP answer as text.",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Error"},
                        {"$ref": "#/components/schemas/RtJson"},
                    ]
                }
            },
            "text/plain": {"schema": sip_text},
        },
    }
    end = {
        "type": "object",
        "required": ["call_id", "known"],
        "properties": {
            "call_id": {"type": "string"},
            "known": {"type": "boolean"},
            "first": {"type": "boolean"},
            "carrier": {"type": ["string", "null"]},
            "duration": {"type": "integer"},
            "billed": {"type": "integer"},
            "cost": _MONEY_OR_NULL,
            "released": {"type": "boolean"},
        },
    }
    at = _query("at", "Instant: ISO 8601 date-time with a zone, a date, or epoch seconds "
                "(default: now).")  # fmt: skip
    secured: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tandem route API",
            "version": "1.0",
            "description": "Routing decisions for SIP proxies (tandem serve http).",
        },
        "paths": {
            "/route": {
                "get": {
                    "operationId": "route",
                    "summary": "Decide the routes of one call.",
                    "security": secured,
                    "parameters": [
                        _query("number", "Dialed number.", True, minLength=1),
                        _query("customer", "Customer name (or give source_ip)."),
                        _query("source_ip", "Source IP of the customer's trunk."),
                        at,
                        _query(
                            "call_id",
                            "Call id: stable weighted splits; the call is "
                            "kept for POST /calls/{call_id}/end.",
                        ),  # fmt: skip
                        _query(
                            "format",
                            "json (default), rtjson (Kamailio's routing document) or sip "
                            "(the SIP answer as text).",
                            enum=["json", "rtjson", "sip"],
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "The decision (routed or blocked).",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "oneOf": [
                                            {"$ref": "#/components/schemas/Decision"},
                                            {"$ref": "#/components/schemas/RtJson"},
                                        ]
                                    }
                                },
                                "text/plain": {"schema": sip_text},
                            },
                        },
                        "400": _error("A bad, missing, repeated or unknown parameter."),
                        "401": _error("No or a wrong bearer token."),
                        "422": undecided,
                    },
                }
            },
            "/calls/{call_id}/end": {
                "post": {
                    "operationId": "end_call",
                    "summary": "The call is over: release its slots, price it.",
                    "security": secured,
                    "parameters": [
                        {
                            "name": "call_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
                        },
                        at,
                        _query(
                            "duration",
                            "Billed seconds of the answered call.",
                            pattern="^[0-9]{1,9}$",
                        ),  # fmt: skip
                        _query("carrier", "The carrier that answered."),
                    ],
                    "responses": {
                        "200": {
                            "description": "What the end did (known: false when this node "
                            "does not hold the call; its slots are released anyway).",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/CallEnd"}
                                }
                            },
                        },
                        "400": _error("A bad or unknown parameter."),
                        "401": _error("No or a wrong bearer token."),
                        "413": _error("A body above 64 KiB."),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "200 while the table in use is valid now, else 503.",
                    "responses": {
                        "200": {
                            "description": "Healthy.",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "object", "required": ["status", "table"]}
                                }
                            },
                        },
                        "503": {
                            "description": "The table is not valid now.",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "object", "required": ["status", "table"]}
                                }
                            },
                        },
                    },  # fmt: skip
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus text exposition.",
                    "security": secured,
                    "responses": {
                        "200": {
                            "description": "Metrics.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "401": _error("No or a wrong bearer token."),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This schema.",
                    "security": secured,
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "401": _error("No or a wrong bearer token."),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Route": route,
                "Decision": decision,
                "RtJson": rtjson,
                "Error": error,
                "CallEnd": end,
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
