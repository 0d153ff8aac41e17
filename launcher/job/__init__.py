"""From a validated spec to the one resolved job every path consumes."""
