"""qa: quality monitoring for Chinese call-center transcripts.

The library API is :func:`qa.pipeline.score`; the ``qa`` command is a thin
shell over it (see :mod:`qa.cli`).
"""

__version__ = "0.1.0"
