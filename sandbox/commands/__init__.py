"""The `sandbox` command line: the front end a learner, a student or an instructor types.

`entry` is the console script (kept light: `exercises check` starts its tests before the rest
loads); `cli` parses and dispatches; each other module is one family of subcommands. Nothing
below this package imports it: the sandbox, the course and the grader know nothing of commands.
"""
