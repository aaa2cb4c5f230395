"""Typed specs of every XR; the XRDs' OpenAPI schemas are generated from them."""
