"""Command-line interface: parsing and presentation only. Heavy imports stay inside handlers."""
