# Benchmarks against the peers (torchinfo, torchvision, keras.applications); results in docs/benchmarks.md.
# The peers are not dependencies of archspec: pip install '.[bench]' (see docs/benchmarks.md).
PYTHON ?= python

.PHONY: bench bench-quick bench-limits bench-deploy

bench:
	$(PYTHON) bench/run_all.py

bench-quick:
	$(PYTHON) bench/run_all.py --quick

# The worst specs within the limits, each command timed as its own process (README: Limits).
bench-limits:
	$(PYTHON) bench/limits.py

# Every shipped spec's peer checkpoint converted both ways and exported to ONNX (docs/deploying.md).
bench-deploy:
	$(PYTHON) bench/deploy.py --doc docs/deploying.md
