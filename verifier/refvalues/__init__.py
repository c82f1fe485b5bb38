"""refvalues layer."""
