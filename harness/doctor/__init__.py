"""Doctor: what each node can do, measured before the suites run."""
