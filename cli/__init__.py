"""The ccverify command line: thin wrappers over the library."""
