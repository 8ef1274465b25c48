"""The one road into HiGHS: compile the model to arrays, hand it over, search in a child process, re-solve LPs, read and check the plan."""
