"""Declare llm models in YAML: Markov chains, HTTP APIs or Python callables."""

__version__ = "0.1.0"
