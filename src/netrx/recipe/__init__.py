"""``netrx improve``: the notes' basic recipe, hands-free.

- :mod:`~netrx.recipe.plan`: the plan of the steps (:func:`improve`), the budget, resume;
- :mod:`~netrx.recipe.steps`: what the steps share (the context, training without the
  test set) and :mod:`~netrx.recipe.baseline`, step 1;
- :mod:`~netrx.recipe.round`: diagnose → prescribe → tune → retrain;
- :mod:`~netrx.recipe.final`: K seeds, single vs ensemble vs Polyak, the test set once.
"""

from netrx.recipe.plan import ImproveResult, improve

__all__ = ["ImproveResult", "improve"]
