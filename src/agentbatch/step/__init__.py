"""Pure step logic: memory rendering, request assembly, the rule solver, response resolution.
Nothing here does I/O, reads a clock or draws random numbers."""
