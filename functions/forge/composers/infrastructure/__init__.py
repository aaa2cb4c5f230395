"""The infrastructure bundle: one module per piece of cluster infrastructure."""
