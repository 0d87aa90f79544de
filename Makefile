# pba — Population Based Augmentation in Swift.
# `make run` sets up a fresh Debian machine and runs the main job; `make test` runs the tests.

SWIFT       ?= swift
PREFIX      ?= /usr/local
APT_PACKAGES = libopenblas-dev libzmq3-dev libsqlite3-dev libssl-dev zlib1g-dev dataset-fashion-mnist
BIN          = .build/release/pba
THREADS     ?= $(shell nproc)
# The Python schedule reader's tests run with the system Python (Debian's python3-pil, python3-pytest).
PYTHON      ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
# Release build with testing enabled: training tests are 10-50x slower in debug. It has its own
# scratch path: sharing .build with `make build` (other flags) rebuilt everything, ~7 min on 2
# cores, every time one followed the other.
TEST_BUILD   = .build-test
TEST_FLAGS   = -c release -Xswiftc -enable-testing --scratch-path $(TEST_BUILD)
TEST_BIN     = $(TEST_BUILD)/release/pba
# The PyTorch worker's venv (see its rule below); defined here because prerequisites expand when read.
WORKER_VENV  = .venv-worker
TORCH_WHEEL ?= /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl

.PHONY: setup build test bench bench-peer bench-dashboard run evaluate install clean

## setup: install the system packages pba needs (idempotent; skips what is present)
setup:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "system packages present"; fi

## build: release build of the pba binary
build:
	$(SWIFT) build -c release --product pba

## test: everything, in release mode with testing enabled; then the Python schedule reader
## against the pba binary that build made (IntegrationTests depend on it, so `swift test` puts
## it in .build-test/release; built with the same flags if missing, so nothing is rebuilt twice)
test: APT_PACKAGES += python3 python3-pil python3-pytest python3-zmq python3-numpy python3-venv chromium
test: setup $(WORKER_VENV)/bin/python
	$(SWIFT) test $(TEST_FLAGS) --disable-swift-testing
	@test -x $(TEST_BIN) || $(SWIFT) build $(TEST_FLAGS) --product pba
	PBA_BIN="$(CURDIR)/$(TEST_BIN)" $(WORKER_VENV)/bin/python -m pytest -q -p no:cacheprovider consumers/python/tests

## The PyTorch worker's environment for the tests: the system Python's packages (Pillow, pytest,
## pyzmq, numpy) plus a CPU build of torch, from the wheel preinstalled on the project's machines
## (TORCH_WHEEL), else PyTorch's CPU index (PyPI's default wheel is the large CUDA build).
$(WORKER_VENV)/bin/python:
	$(PYTHON) -m venv --system-site-packages $(WORKER_VENV)
	if [ -f "$(TORCH_WHEEL)" ]; then $(WORKER_VENV)/bin/pip install -q "$(TORCH_WHEEL)"; \
	else $(WORKER_VENV)/bin/pip install -q torch --index-url https://download.pytorch.org/whl/cpu; fi

## bench: the benchmarks, each printing ratios against a peer or the hardware measured in the same run
BENCH_VENV = .venv-bench
$(BENCH_VENV)/bin/python:
	python3 -m venv $(BENCH_VENV) && $(BENCH_VENV)/bin/pip install -q Pillow==12.3.0

bench: setup build $(BENCH_VENV)/bin/python $(WORKER_VENV)/bin/python
	$(BIN) bench engine --threads 1,2
	PBA_BIN="$(CURDIR)/$(BIN)" PYTHONPATH=consumers/python $(WORKER_VENV)/bin/python -m pba_worker.bench
	$(BIN) bench augment --python $(BENCH_VENV)/bin/python
	$(BIN) bench store
	$(BIN) bench wire

## bench-peer: the same WRN in PyTorch (CPU) for the engine's reference numbers
## (PEER_ARGS passes options through, e.g. make bench-peer PEER_ARGS="--steps 3 --models wrn-16-1")
bench-peer: setup build
	bash bench/peer.sh $(PEER_ARGS)

## run: the main job on the default data: a demo search on Fashion-MNIST (resumes if interrupted).
## Prints the dashboard's address: one already serving $(DASHBOARD), else the search serves it itself.
DASHBOARD ?= 127.0.0.1:8080
run: setup build
	@host=$${DASHBOARD_HOST:-$(word 1,$(subst :, ,$(DASHBOARD)))}; port=$(word 2,$(subst :, ,$(DASHBOARD))); \
	if bash -c "exec 3<>/dev/tcp/$$host/$$port && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && grep -q 'pba dashboard' <&3" 2>/dev/null; then \
	  echo "dashboard: http://$(DASHBOARD)/ (already running)"; http=""; \
	else \
	  echo "dashboard: http://$(DASHBOARD)/ (served by this search; afterwards: $(BIN) dashboard --db runs/pba.sqlite)"; http="--http $(DASHBOARD)"; \
	fi; \
	$(BIN) search --preset demo --db runs/pba.sqlite $$http

## bench-dashboard: requests/s against the dashboard while a search runs, and the search's own
## throughput with and without it, measured in one run (bench/dashboard.sh)
bench-dashboard: setup build
	bash bench/dashboard.sh

## evaluate: the evaluation of the schedules we ship on cifar10-mini (schedules/README.md);
## cells already in runs/eval.sqlite are not trained again
CIFAR10_MINI ?= ../shared/data/cifar10-mini
evaluate: setup build
	$(BIN) evaluate --data cifar10:$(CIFAR10_MINI) --model wrn-10-1 --form zagoruyko --epochs 30 --seeds 3 \
	  --schedule reduced-cifar10=schedules/reduced-cifar10/schedule.json --schedule pba-rcifar10=schedules/pba-rcifar10/schedule.json \
	  --ablations --baselines none,base,cutout,randaugment,trivialaugment,autoaugment \
	  --db runs/eval.sqlite --out runs/eval-cifar10 --title "cifar10-mini: learned schedules vs baselines"

## install: the binary to $(PREFIX)/bin, systemd units to /etc/systemd/system
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/pba
	install -d $(DESTDIR)/etc/systemd/system
	install -m 0644 deploy/pba-coordinator.service deploy/pba-worker@.service deploy/pba-torch-worker@.service $(DESTDIR)/etc/systemd/system/
	install -D -m 0644 deploy/pba.env.example $(DESTDIR)/etc/pba/pba.env.example
	@id pba >/dev/null 2>&1 || [ -n "$(DESTDIR)" ] || useradd --system --home-dir /var/lib/pba --shell /usr/sbin/nologin pba

clean:
	rm -rf .build $(TEST_BUILD)
