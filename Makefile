# Two entry points for users: `make demo` (the main job) and `make test` (the whole suite).
# Each creates .venv and installs into it on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.dualgan-installed
KERNELS := $(VENV)/.dualgan-kernels-compiled

.PHONY: demo test bench install clean docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU wheel of torch; an unpinned torch would pull the CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	# dev: pytest, mkdocs; ray: the sweep backend; tensorboard, pandas: History logs (all exercised by the tests)
	$(PY) -m pip install -q -e ".[dev,ray,tensorboard,pandas]"
	# cyipopt needs a system Ipopt (Debian: coinor-libipopt-dev); without it the Ipopt tests skip.
	if pkg-config --exists ipopt 2>/dev/null; then $(PY) -m pip install -q -e ".[ipopt]"; \
	else echo "system Ipopt not found: skipping the optional 'ipopt' extra (cyipopt)"; fi
	touch $(STAMP)

# Compile the dual solvers' numba kernels now and cache them on disk, so that no run waits ~20 s for the
# compiler: the first solve of a new process then only loads the cache. Redone when the solvers' sources
# change (numba's cache is keyed on them).
$(KERNELS): $(STAMP) $(wildcard dualgan/duals/*.py)
	$(PY) -m dualgan warmup --quiet
	touch $(KERNELS)

install: $(KERNELS)

demo: $(KERNELS)
	$(VENV)/bin/dualgan demo

test: $(KERNELS)
	$(PY) -m pytest -n 2 -q

bench: $(KERNELS)
	$(PY) benchmarks/dual_solvers.py
	$(PY) benchmarks/dual_gan_timing.py
	$(PY) benchmarks/games_bilinear.py
	$(PY) benchmarks/games_step_cost.py --hidden 64 --batch 256
	$(PY) benchmarks/trust_region_step_cost.py
	$(PY) benchmarks/constraints_compare.py
	$(PY) benchmarks/regularizer_cost.py

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info site
