"""Transformer classifiers: the e5 loader, training, inference and evaluation.

Importing this package imports nothing heavy; torch and transformers load in
the submodules that need them.
"""
