# Two commands on a fresh machine (python3.11; .venv is created when missing, reused otherwise):
#   make demo   install everything, then the mini recipe end to end (egs/libri2mix, --dataset mini)
#   make test   install everything, then the test suite (what .ci/run calls)
# Extra recipe options: make demo DEMO_ARGS="--model s4m"
PYTHON ?= python3.11
VENV ?= .venv
DEMO_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: demo test install

install: $(STAMP)

# Re-installs only when the pins, the packaging or these install lines change; pip keeps what
# is already there.
$(STAMP): requirements-pinned.txt setup.py asteroid_tdanet/version.py Makefile
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -r requirements-pinned.txt
	# The music mini set's synthesiser; --no-deps: its pyaudio requirement (live playback
	# only) does not build without portaudio headers.
	$(VENV)/bin/pip install --no-deps tinysoundfont==0.3.7
	# The reference of the music SDR test (tests/test_music_metrics.py loads only its
	# metrics.py, numpy + scipy); --no-deps: its musdb -> stempeg chain wants ffmpeg.
	$(VENV)/bin/pip install --no-deps museval==0.4.1
	$(VENV)/bin/pip install --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	cd egs/libri2mix && ./run.sh --dataset mini --python "$(abspath $(VENV))/bin/python" $(DEMO_ARGS)

test: $(STAMP)
	$(VENV)/bin/python -m pytest
