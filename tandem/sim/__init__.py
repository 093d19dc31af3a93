"""Simulation: generated and replayed call traffic, what-if between tables."""
