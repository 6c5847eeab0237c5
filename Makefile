# posekit: two commands for a newcomer (see README.md).
#   make        set up a virtual environment, then execute every notebook headless (full mode)
#               into build/notebooks/ (executed .ipynb + .html)
#   make test   set up the same environment, then run the whole test suite (unit tests + nbval
#               over notebooks/, in fast mode POSEKIT_FAST=1)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev
BUILD ?= build
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: all setup notebooks test clean

all: notebooks

setup: $(VENV)/.posekit-installed

$(VENV)/.posekit-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

notebooks: setup
	mkdir -p $(BUILD)/notebooks
	$(PY) -m jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=3600 \
		--output-dir $(BUILD)/notebooks $(NOTEBOOKS)
	$(PY) -m jupyter nbconvert --to html --output-dir $(BUILD)/notebooks $(addprefix $(BUILD)/,$(NOTEBOOKS))
	@echo "executed notebooks and HTML are in $(BUILD)/notebooks/"

test: setup
	@POSEKIT_FAST=1 $(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit code 5)" >&2; fi; exit $$rc

clean:
	rm -rf $(BUILD)
