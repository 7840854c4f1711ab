# ganlab: `make demo` trains on the built-in digits and renders the paper's figures;
# `make test` runs the whole suite. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO := runs/demo

.PHONY: demo test test-fast lint clean-demo

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check ganlab tests benchmarks

demo: $(STAMP)
	rm -rf $(DEMO)
	$(VENV)/bin/ganlab train digits --epochs 40 --batch-size 64 --out $(DEMO)
	$(VENV)/bin/ganlab sample $(DEMO) --seeds 0-63 --out $(DEMO)/demo-samples.png
	@echo
	@echo "Demo run:      $(DEMO)/"
	@echo "Sample grid:   $(DEMO)/demo-samples.png (seeds 0-63)"
	@echo "Per-epoch grids: $(DEMO)/samples/   metrics: $(DEMO)/metrics.jsonl"

clean-demo:
	rm -rf $(DEMO)
