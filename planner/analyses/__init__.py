"""Analyses on solved plans: stress tests, the cost-risk frontier, explanations, comparisons."""
