"""wloadctl.agent: the execution agent's building blocks (process executor, local log store)."""
