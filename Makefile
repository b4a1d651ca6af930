# Benchmarks against the peers (torchinfo, torchvision, keras.applications); results in docs/benchmarks.md.
# The peers are not dependencies of archspec: pip install '.[bench]' (see docs/benchmarks.md).
PYTHON ?= python

.PHONY: bench bench-quick

bench:
	$(PYTHON) bench/run_all.py

bench-quick:
	$(PYTHON) bench/run_all.py --quick
