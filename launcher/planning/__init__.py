"""Pure planning: step arithmetic, LR per step, instance catalogue, cost."""
