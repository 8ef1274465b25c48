"""The plan as plain tables, its cost accounting and verification, and the report tables (no Pyomo, no highspy)."""
