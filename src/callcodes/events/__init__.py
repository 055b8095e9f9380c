"""The event log: one event per decision, the sinks that keep them, and reading them back."""
