"""Least-cost routing: compiled prefix tables, routing plans and decisions."""
