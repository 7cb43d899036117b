"""The assembly layer: the only code that turns a :class:`~netrx.config.RunConfig` into
training pieces.

- :mod:`~netrx.experiment.prepared`: load, split and fit the preprocessing (:func:`prepare`);
- :mod:`~netrx.experiment.build`: every ``*_from_config`` (population, optimizer and
  schedule, penalties, constraints, augmentation, callbacks);
- :mod:`~netrx.experiment.assemble`: the one assemble + fit (:func:`assemble`, :func:`train`);
- :mod:`~netrx.experiment.evaluate`: the member table, the ensemble, the one test look;
- :mod:`~netrx.experiment.execute`: :func:`run`, a config end to end with its run directory;
- :mod:`~netrx.experiment.rundir`, :mod:`~netrx.experiment.predictor`: the run format,
  written and read back;
- :mod:`~netrx.experiment.transfer`: a transfer run's config resolved (source architecture,
  the notes' plan) and its source loaded.
"""

from netrx.experiment.execute import RunResult, run
from netrx.experiment.prepared import Prepared, prepare

__all__ = ["Prepared", "RunResult", "prepare", "run"]
