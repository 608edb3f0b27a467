"""The recipes' training engine, shared by ``egs/{libri2mix,wham,lrs2mix}`` for any model
(never imported by ``import asteroid_tdanet``). Each stage is runnable with ``python -m``:

* ``asteroid_tdanet.recipes.train`` (stage 2), ``.evaluate`` (stage 3), ``.publish`` (stage 4);
* ``asteroid_tdanet.recipes.compare``: the equal-budget comparison table and figure;
* ``asteroid_tdanet.recipes.requirements``: checks the ``[recipes]`` extra.

Stages 0-1 (corpus production: generation, the mini set, csv metadata) live with the recipes
in ``egs/utils/corpus``, as Asteroid keeps dataset generation in ``egs/``.
"""
