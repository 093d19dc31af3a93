"""ENUM (RFC 6116) and number portability lookups."""
