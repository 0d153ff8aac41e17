"""The spot-interruption drill and the bitwise model comparison it ends with."""
