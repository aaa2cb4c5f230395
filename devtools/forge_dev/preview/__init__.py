"""Preview an XR to Ready: Crossplane's engine composes, a player answers for the providers.

``rounds.preview`` drives the rounds, ``player`` (with ``aws``, ``infra``, ``vcluster``)
plays the providers, ``report`` writes the table, ``cli`` is ``forge-preview``. Client
side only, like ``forge_dev.render``: the function server never imports this package. The
unit tests drive the function in-process with the same player (``tests/support``).
"""
