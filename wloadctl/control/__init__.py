"""Leader-side control: agent streams, takeover, dispatch."""
