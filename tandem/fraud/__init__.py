"""Fraud rules evaluated before routes are offered, and the same rules replayed over CDRs."""
