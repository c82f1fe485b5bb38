"""Offline measurement calculation: what correct evidence must contain."""
