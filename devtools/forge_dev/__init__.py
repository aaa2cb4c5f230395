"""Development tooling of the Catalyst Forge function: generation, rendering, packaging.

It imports the runtime package ``forge``; the runtime never imports it.
"""
