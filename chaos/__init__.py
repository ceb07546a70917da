"""Chaos suite: fault injection against a live cluster, and the checkers that judge what happened.

``chaos.history`` defines the records a run leaves behind (client history, execution records,
agent epoch log, final run states, replica digests) and their loaders; ``chaos.checkers`` turns
them into findings. Both are pure Python and read only the files they are given, so a failed
run can be re-judged offline from its results directory.
"""
