"""Pure scheduling decisions: (state snapshot, now) -> commands."""
