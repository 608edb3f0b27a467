"""Corpus production for the recipes (stage 0 and stage 1), kept out of the library.

Like Asteroid, which keeps dataset generation in ``egs/``, the code that downloads, synthesises
and mixes corpora lives next to the recipes and is never imported by ``import asteroid_tdanet``:

* :mod:`corpus.prepare_data` (stage 0): check / generate a corpus, build the mini set;
* :mod:`corpus.metadata` (stage 1): Libri2Mix-layout csv files read by the training engine
  (:mod:`asteroid_tdanet.recipes`);
* :mod:`corpus.librispeech`, :mod:`corpus.generate`, :mod:`corpus.mixing`: LibriMix-style
  mixing; :mod:`corpus.mini`: the embedded mini dataset (Debian voice prompts, eSpeak NG);
* :mod:`corpus.real_speech`: two-speaker mixtures of real read speech (LibriSpeech layout) to
  check how a model trained on the mini set does on speech it never heard.

``egs/utils/run_recipe.sh`` puts ``egs/utils`` on ``PYTHONPATH``; run a module with
``PYTHONPATH=egs/utils python -m corpus.prepare_data ...``.
"""
