"""Real, unmodified public Script Mode scripts (each under <name>/src) and the data they read."""
