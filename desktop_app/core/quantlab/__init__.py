"""The quantisation lab: make variants of a model, measure them on this machine and
on the user's text (memory, speed, perplexity, KL divergence and top-1 agreement
against the best variant), compare their answers side by side, keep every run.

Submodules: :mod:`.variants` (grouping, the reference), :mod:`.quantize` (making
variants), :mod:`.measure` (measuring, in child processes), :mod:`.metrics` (the
numpy maths), :mod:`.runs` (saved runs, export), :mod:`.subproc` (child processes).
"""
