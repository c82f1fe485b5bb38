"""collateral layer."""
