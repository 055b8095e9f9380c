"""The pure core: policy model, rule table, code book, decision, digit collection, lockout.

Nothing here does I/O or reads the clock. These modules import only ``attrs``,
``sortedcontainers``, the standard library's pure parts and the error tree; every other layer
of callcodes depends on them, never the other way round.
"""
