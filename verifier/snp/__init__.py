"""snp layer."""
