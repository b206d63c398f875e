# Tactful: `make run` starts the proxy, `make test` runs the whole suite.
# Both do their own set-up on a fresh machine: virtualenv, pinned
# dependencies (with hashes), the spaCy model, Debian test tools, migrations.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# presidio-evaluator (and the transformers it pulls in) live in a venv of
# their own: only `make bench-eval` needs them, and the proxy must not import
# transformers at start-up.
BENCH_VENV  := .venv-bench
BENCH_PY    := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.installed
DEBS   := swaks libnet-ssleay-perl libio-socket-ssl-perl msmtp postfix chromium faketime
DEB_STAMP := var/.debian-packages
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=
export TACTFUL_OFFLINE := 1

# Two awkward moments for `make test-dated` (UTC): a Saturday at 23:30 in
# Chicago, and 08:30 on the morning the US clocks go forward.
SATURDAY_NIGHT := 2026-12-06 05:30:00
SPRING_FORWARD := 2027-03-14 13:30:00

# axe-core for the accessibility test (tests/review/test_browser_desk.py),
# from the npm registry at set-up time; tests never download, they skip
# without it.
AXE_VERSION := 4.14.1
AXE := var/axe-core/axe.min.js

.PHONY: axe-core run test test-quick test-dated lint typecheck bench bench-proxy eval eval-holdout bench-eval lock debian-packages clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the end-to-end tests drive: real SMTP clients (swaks,
# msmtp), Postfix's smtp-sink/smtp-source, headless Chromium, and faketime
# for the dated runs.
$(DEB_STAMP):
	@mkdir -p var
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  echo "postfix postfix/main_mailer_type select No configuration" | $$SUDO debconf-set-selections && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	touch $(DEB_STAMP)

debian-packages: $(DEB_STAMP)

run: $(STAMP)
	@mkdir -p var
	$(VENV)/bin/tactful db upgrade
	@test -f var/dkim.key || $(VENV)/bin/tactful dkim keygen
	$(VENV)/bin/tactful serve

$(AXE):
	@mkdir -p var/axe-core
	cd var/axe-core && { npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && \
	  tar -xzf axe-core-$(AXE_VERSION).tgz package/axe.min.js package/LICENSE && \
	  mv package/axe.min.js package/LICENSE . && rmdir package && \
	  rm axe-core-$(AXE_VERSION).tgz; } || \
	  echo "axe-core could not be fetched (npm); the accessibility check will be skipped"

axe-core: $(AXE)

test: $(STAMP) $(DEB_STAMP) $(AXE)
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/pytest -q -p no:cacheprovider

# The quick part while you work: no `tactful serve` subprocesses, no browser.
test-quick: $(STAMP)
	$(VENV)/bin/pytest -q -p no:cacheprovider -m "not e2e and not browser"

# The whole suite again with the machine's clock moved (libfaketime): tests
# must pass on any day at any hour. Set-up runs first, on the real clock.
test-dated: $(STAMP) $(DEB_STAMP) $(AXE)
	@echo "== the suite on a Saturday night in Chicago ($(SATURDAY_NIGHT) UTC)"
	faketime '$(SATURDAY_NIGHT)' $(VENV)/bin/pytest -q -p no:cacheprovider
	@echo "== the suite the morning the clocks go forward ($(SPRING_FORWARD) UTC)"
	faketime '$(SPRING_FORWARD)' $(VENV)/bin/pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check proxy detectors tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

bench: $(STAMP) $(DEB_STAMP)
	$(PY) benchmarks/lint_throughput.py
	$(PY) benchmarks/lint_memory.py
	$(MAKE) --no-print-directory bench-proxy

# smtp-source -> tactful serve -> smtp-sink, against smtp-source -> smtp-sink.
bench-proxy: $(STAMP) $(DEB_STAMP)
	$(PY) benchmarks/proxy_throughput.py

# Our own labelled messages (eval/) through the lint engine: precision and
# recall per entity and category, verdict accuracy, leaks, over-enforcement.
# Fails below eval/thresholds.yaml.
eval: $(STAMP)
	$(PY) benchmarks/eval_set.py

# The held-out set (eval/holdout/): written without reading the detectors'
# term lists and never tuned on, so it shows how the engine does on new mail.
# Report only: no thresholds, so nobody is tempted to tune to it.
eval-holdout: $(STAMP)
	$(PY) benchmarks/eval_set.py --messages eval/holdout --no-thresholds

# presidio-evaluator's synthetic sentences (seed 42), Tactful's identifiers
# against stock Presidio, side by side.
$(BENCH_STAMP): requirements-bench.lock pyproject.toml
	test -x $(BENCH_PY) || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet --upgrade pip
	$(BENCH_PY) -m pip install --quiet --require-hashes -r requirements-bench.lock 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(BENCH_PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(BENCH_STAMP)

bench-eval: $(BENCH_STAMP)
	TRANSFORMERS_VERBOSITY=error $(BENCH_PY) benchmarks/presidio_evaluator_bench.py

# Regenerate the hash-pinned lock after changing pyproject.toml.
lock:
	$(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv pip compile pyproject.toml --extra test --extra fast --generate-hashes \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 -o requirements.lock
	$(PYTHON) -m uv pip compile pyproject.toml --extra test --extra fast --extra bench --generate-hashes \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 -o requirements-bench.lock

clean:
	rm -rf $(VENV) $(BENCH_VENV) var/.debian-packages
