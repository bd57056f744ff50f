"""The ``scheduling.smack.dev`` contract between the service operators and the meta-controller.

Below both sides, above :mod:`operators.sdk` only: the wire models (:mod:`.api`), the labels
and constraint-field vocabulary (:mod:`.labels`), the client half every service uses to
state its demand and read its admission (:mod:`.claims`), and the binding a service hands to
the meta-controller's demand webhook (:mod:`.binding`). Nothing here imports the allocator.
"""
