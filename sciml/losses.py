"""Quadrature-aware norms and losses (being written)."""
