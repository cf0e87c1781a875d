"""Which model answers, and when: ``fallbacks`` (another model answers when one
cannot) and ``limits`` (client-side rpm, tpm and concurrency).
"""
