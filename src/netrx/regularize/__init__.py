"""Regularizers that act on the cost or on the weights: penalties added to the loss
(:mod:`~netrx.regularize.penalties`: λ/2m‖W‖²_F, λ/m‖W‖₁) and steps applied after each
update (:mod:`~netrx.regularize.constraints`: proximal L1, max-norm). Dropout,
DropConnect and batch norm are layers (:mod:`netrx.nn.layers`); decoupled weight decay
is an optimizer transform (:mod:`netrx.optim.weight_decay`); early stopping is a callback.
Every function here takes tensors and plain values; :mod:`netrx.experiment.build` reads
them from a config."""
