"""Benchmark of function-forge against a do-nothing function on the same SDK (`make bench`)."""
