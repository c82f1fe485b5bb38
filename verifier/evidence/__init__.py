"""Evidence formats: bytes <-> frozen dataclasses, exact offsets, nothing else."""
