"""Validated typed tables and the sparse sets derived from them (no Pyomo)."""
