"""Every way a run can end: its status, exit code, whether its plan is usable, and what it says
(no solver here: the command line reads it without importing HiGHS)."""

# status -> (exit code, usable result?, message)
STATUSES: dict[str, tuple[int, bool, str]] = {
    "optimal": (0, True, "optimal within the MIP gap tolerance"),
    "best_found": (3, True, "best plan found when a limit was reached (not proven optimal; gap shown)"),
    "no_solution": (4, False, "a limit was reached before any feasible plan was found"),
    "infeasible": (5, False, "the model is infeasible: no plan satisfies every constraint"),
    "unbounded": (6, False, "the model is unbounded (a cost can fall without limit)"),
    "infeasible_or_unbounded": (6, False, "the solver proved the model infeasible or unbounded "
                                          "without telling which"),
    "error": (7, False, "the solver failed"),
    "interrupted": (8, False, "interrupted before any feasible plan was found"),
}
INPUT_ERROR_EXIT = 1
USAGE_ERROR_EXIT = 2
WRITE_ERROR_EXIT = 9  # solved, but the workbook could not be written (the JSON copy was)
NOTHING_WRITTEN_EXIT = 10  # solved, but nothing could be written: the result is lost
