"""The embedded mini dataset: a small two-speaker set in the Libri2Mix layout, built from
speech that registry packages ship (real recordings from Debian's Asterisk prompt packages,
synthetic voices from eSpeak NG)."""
