"""tdx layer."""
