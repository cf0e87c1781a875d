"""``llm yaml-models ...``: the command group (``cli``), the live check
(``check``), the resolved declaration (``show``) and the converter from
other tools' files (``importer``).
"""
