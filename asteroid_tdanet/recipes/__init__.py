"""Recipe code shared by ``egs/{libri2mix,wham,lrs2mix}``: data preparation, metadata,
training, evaluation and publishing. Each stage is a module runnable with ``python -m``:

* ``asteroid_tdanet.recipes.prepare_data`` (stage 0): generate / check the corpus,
* ``asteroid_tdanet.recipes.metadata`` (stage 1): Libri2Mix-layout csv files,
* ``asteroid_tdanet.recipes.train`` (stage 2), ``.evaluate`` (stage 3), ``.publish`` (stage 4).
"""
