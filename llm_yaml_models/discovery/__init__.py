"""Discovery: a declaration with ``discover:`` is a template that registers
one model for each model its server lists. ``fetch`` gets the list (one
bounded GET), ``discovered`` turns it into declarations. What ``validate``
checks of a template beyond the schema is the loader's
(``loading.discover_rules``).
"""
