"""Model files in: found on the search path, parsed with a location for every
node, checked against the schema and each backend's rules, merged with
defaults and presets, and turned into typed declarations (``declarations``).
Floors: ``search_path`` and ``source`` at the bottom, ``loader`` on top.
"""
