"""A job's settings: the typed, closed spec and the layers it is merged from."""
