"""planner: the alliance critical-minerals co-investment planner."""

__version__ = "0.1.0"
