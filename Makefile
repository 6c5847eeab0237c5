# posekit: two commands for a newcomer (see README.md).
#   make        set up a virtual environment, then execute every notebook headless (full mode)
#               into build/notebooks/ (executed .ipynb + offline .html, checked in Chromium if installed)
#   make test   set up the same environment, then run the whole test suite (unit tests + nbval
#               over notebooks/, in fast mode POSEKIT_FAST=1)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev
BUILD ?= build
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: all setup notebooks notebooks-check test clean site site-check slides photo experiments data-scale record

# make site   the executed chapters as a static, offline HTML course site in $(BUILD)/site
#             (SITE_MODE=fast, the default, runs them with POSEKIT_FAST=1; SITE_MODE=full runs them in full),
#             then checks every page in headless Chromium if `chromium` is installed (make site-check)
# make slides each chapter as reveal.js slides in $(BUILD)/slides (offline: reveal.js, MathJax 2,
#             require.js and jQuery from npm into $(BUILD)/slides/lib; SLIDES_EXECUTE=0 skips running them)
SITE_MODE ?= fast
SLIDES_EXECUTE ?= 1
FAST_ENV = $(if $(filter fast,$(1)),POSEKIT_FAST=1,POSEKIT_FAST=0)

all: notebooks

setup: $(VENV)/.posekit-installed

$(VENV)/.posekit-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

# The HTML pages work offline, opened from disk: MathJax 3 is copied from the sphinx-mathjax-offline package
# into $(BUILD)/notebooks/_static, plotly.js is inlined, no CDN script is referenced (tools/offline_html.py).
# Then the outputs are scanned for machine paths, log lines and object reprs (tools/output_scan.py, a
# report) and, if `chromium` is installed, every page is checked in headless Chromium with the network
# off (make notebooks-check).
notebooks: $(VENV)/.posekit-html-installed
	mkdir -p $(BUILD)/notebooks
	POSEKIT_HTML_EXPORT=1 $(PY) -m jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=3600 \
		--output-dir $(BUILD)/notebooks $(NOTEBOOKS)
	$(PY) tools/offline_html.py --out $(BUILD)/notebooks $(addprefix $(BUILD)/,$(NOTEBOOKS))
	@$(PY) tools/output_scan.py $(addprefix $(BUILD)/,$(NOTEBOOKS)) || echo "output scan: the lines above are outputs a student should not see"
	@if command -v chromium >/dev/null; then $(MAKE) --no-print-directory notebooks-check; \
	else echo "chromium not installed: pages not checked (apt-get install -y chromium; make notebooks-check)"; fi
	@echo "executed notebooks and HTML are in $(BUILD)/notebooks/ (open the .html files from disk)"

$(VENV)/.posekit-html-installed: $(VENV)/.posekit-installed
	$(PY) -m pip install --quiet --no-deps sphinx-mathjax-offline==0.0.2
	touch $@

notebooks-check:
	$(PY) tools/check_site.py $(BUILD)/notebooks --pages "[0-9]*.html"

test: setup
	@POSEKIT_FAST=1 $(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit code 5)" >&2; fi; exit $$rc

$(VENV)/.posekit-site-installed: $(VENV)/.posekit-installed pyproject.toml
	$(PY) -m pip install --quiet -e ".[$(EXTRAS),site]"
	touch $@

site: $(VENV)/.posekit-site-installed
	rm -rf $(BUILD)/site $(BUILD)/site-doctrees
	$(call FAST_ENV,$(SITE_MODE)) $(PY) -m sphinx -q -b html -c site -d $(BUILD)/site-doctrees notebooks $(BUILD)/site
	@echo "course site: $(BUILD)/site/index.html"
	@if command -v chromium >/dev/null; then $(MAKE) --no-print-directory site-check; \
	else echo "chromium not installed: pages not checked (apt-get install -y chromium; make site-check)"; fi

site-check:
	$(PY) tools/check_site.py $(BUILD)/site

slides: setup
	mkdir -p $(BUILD)/slides/lib
	test -f $(BUILD)/slides/lib/node_modules/reveal.js/dist/reveal.js || npm install --silent --no-audit --no-fund \
		--prefix $(BUILD)/slides/lib reveal.js@4 mathjax@2 requirejs@2 jquery@2
	POSEKIT_FAST=1 POSEKIT_HTML_EXPORT=1 $(PY) tools/slides.py --out $(BUILD)/slides $(if $(filter 1,$(SLIDES_EXECUTE)),--execute,)
	@echo "slides: $(BUILD)/slides/*.slides.html (open in a browser; arrow keys)"

clean:
	rm -rf $(BUILD)

# Optional photo detector (chapter 02b, posekit.photo): mediapipe 0.10.21 without its numpy<2 / jax metadata pins;
# its pose model also finds every person in a photo (posekit.photo.people), so no other detector is installed.
photo: setup
	$(PY) -m pip install --quiet -r requirements-photo.txt
	$(PY) -m pip install --quiet --no-deps mediapipe==0.10.21

# The papers' tables in full mode on held-out subjects (one to two hours on 2 cores; 25 min with --lengths 60
# --clips 8 --val-clips 4 --steps 120), and the data-scale study:
# every prior trained on 3, 5 and all train subjects, tested on the same clips (about an hour).
MOTIONS ?= ../shared/data/cmu
experiments: setup
	$(PY) -m posekit.experiments all --motions $(MOTIONS) --priors $(BUILD)/priors --out $(BUILD)/experiments

data-scale: setup
	$(PY) benchmarks/data_scale.py --motions $(MOTIONS) --out $(BUILD)/data_scale --pretrained-for-all

# The table of record (posekit/experiments/record/): each part in full on the test subjects with enough clips and
# views to conclude (16 clips per setting, 64 image views; see posekit.experiments.record.PARTS), then merged
# with paired 95 % CIs and the papers' verdicts. RECORD_PARTS picks parts; each runs on its own (make record
# RECORD_PARTS=denoise), and `assemble` merges whatever parts have finished.
RECORD_PARTS ?= denoise occlusion image-fit generate table1
RECORD_BUILD ?= $(BUILD)/record
record: setup
	@for p in $(RECORD_PARTS); do $(PY) -m posekit.experiments.record run $$p --motions $(MOTIONS) --out $(RECORD_BUILD) || exit 1; done
	$(PY) -m posekit.experiments.record assemble $(RECORD_BUILD) --out posekit/experiments/record
