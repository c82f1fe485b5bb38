"""Pinned production trust roots (Intel SGX Root CA; AMD ARKs)."""
