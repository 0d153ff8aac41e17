"""What the CLI prints: console helpers, summaries, the LR chart and figures."""
