# ganlab: `make demo` trains on the built-in digits, renders the paper's figures and probes D;
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
	$(VENV)/bin/ruff format --check ganlab tests benchmarks
	$(VENV)/bin/lint-imports

demo: $(STAMP)
	rm -rf $(DEMO)
	$(VENV)/bin/ganlab train digits --epochs 40 --batch-size 64 --out $(DEMO)
	$(VENV)/bin/ganlab sample $(DEMO) --seeds 0-63 --out $(DEMO)/demo-samples.png
	$(VENV)/bin/ganlab concept mine --run $(DEMO)
	$(VENV)/bin/ganlab interpolate $(DEMO) --out $(DEMO)/demo-interpolation.png \
		--gif $(DEMO)/demo-interpolation.gif
	$(VENV)/bin/ganlab arithmetic $(DEMO) --base 8 --minus 3 --plus 5 \
		--out $(DEMO)/demo-arithmetic.png
	$(VENV)/bin/ganlab arithmetic $(DEMO) --walk 1:7 --seeds 0-7 --out $(DEMO)/demo-walk.png
	$(VENV)/bin/ganlab probe digits -c $(DEMO) --json > $(DEMO)/demo-probe.json
	$(VENV)/bin/ganlab probe digits -c $(DEMO) --random-init --json > $(DEMO)/demo-probe-random.json
	$(VENV)/bin/ganlab report $(DEMO)
	@echo
	@echo "Demo run:        $(DEMO)/"
	@echo "Sample grid:     $(DEMO)/demo-samples.png (seeds 0-63)"
	@echo "Latent walk:     $(DEMO)/demo-interpolation.png (and .gif)     paper Fig. 4"
	@echo "Arithmetic:      $(DEMO)/demo-arithmetic.png (8 - 3 + 5)       paper Fig. 7"
	@echo "Attribute walk:  $(DEMO)/demo-walk.png (1 -> 7 direction)      paper Fig. 8"
	@echo "Probe (Table 1): $(DEMO)/demo-probe.json (trained D), demo-probe-random.json (random D)"
	@echo "Per-epoch grids: $(DEMO)/samples/   metrics: $(DEMO)/metrics.jsonl"
	@echo "All of it:       $(DEMO)/report.html (one page: curves, grids, Table 1, config)"

clean-demo:
	rm -rf $(DEMO)
