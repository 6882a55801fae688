# rampart - thin wrapper around CMake.  The two commands that matter:
#
#   make run     install missing Debian packages, build, serve examples/www
#                on 127.0.0.1:8088 and [::1]:8088 (Ctrl-C stops it)
#   make test    install, build, run the test suite, then run it again in an
#                AddressSanitizer + UndefinedBehaviorSanitizer build
#
# Other targets: deps, build, bench, fuzz, install (PREFIX=/usr/local
# DESTDIR=), clean.  Variables: BUILD_TYPE (RelWithDebInfo), PREFIX, DESTDIR, JOBS.

BUILD_DIR  ?= build
ASAN_DIR   ?= build-asan
BUILD_TYPE ?= RelWithDebInfo
PREFIX     ?= /usr/local
DESTDIR    ?=
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

CMAKE_FLAGS = -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX)

# The sanitizer run fails on the first report and checks for leaks.
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

MAKEFLAGS += --no-print-directory

.PHONY: all deps deps-test deps-bench deb build run test test-asan bench fuzz install clean

all: build

# Building and running need only the libraries; the test suite and the
# benchmarks install their own tools and peers (nginx, chromium, wrk...).
deps:
	./scripts/install-deps.sh

deps-test:
	./scripts/install-deps.sh --test

deps-bench:
	./scripts/install-deps.sh --bench

# Configure only when needed (a fresh tree, or a changed PREFIX/BUILD_TYPE
# given on the command line), then build.
build: deps
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j$(JOBS)

# No script: `rampart` runs its built-in demo (examples/demo.js): the demo
# site examples/www plus every example of the rampart-server documentation,
# on 127.0.0.1:8088 and [::1]:8088.  Started as root it drops to nobody.
# `build/bin/rampart-httpd` alone serves the demo site from its built-in
# conf file text (static files only).
run: build
	exec $(BUILD_DIR)/bin/rampart

test: build deps-test
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j2
	$(MAKE) --no-print-directory test-asan

# The same suite under ASan + UBSan, in its own build tree.
test-asan:
	cmake -S . -B $(ASAN_DIR) $(CMAKE_FLAGS) -DRP_SANITIZE=ON
	cmake --build $(ASAN_DIR) -j$(JOBS)
	$(SAN_ENV) ctest --test-dir $(ASAN_DIR) --output-on-failure -j2

# Side-by-side against peers on loopback, each case interleaved with its
# peer in one run; see bench/README.md.  A case whose script is not there
# yet is skipped.  The Python cases (cluster.py, fanout.py) find the build
# through the test helpers' RP_BUILD_DIR.
BENCH_CASES = run.sh gzip.sh ws.sh js.sh js-heap.sh scale.sh slow.sh proxy.sh h2.sh \
              access.sh cluster.py fanout.py

bench: build deps-bench
	@for b in $(BENCH_CASES); do \
	    if [ -x bench/$$b ]; then \
	        echo "== bench/$$b"; \
	        BUILD_DIR=$(BUILD_DIR) RP_BUILD_DIR=$(abspath $(BUILD_DIR)) ./bench/$$b || exit 1; \
	    fi; \
	done

# libFuzzer (clang, ASan + UBSan) in build-fuzz/: builds every target of
# tests/fuzz and runs each for FUZZ_RUNS executions (100000) or FUZZ_TIME
# seconds (60), whichever comes first; FUZZ_JOBS targets at a time.  E.g.
# `make fuzz FUZZ_RUNS=10000000 FUZZ_TIME=0`.  `make test` only replays
# their corpora (ctest fuzz.*).
fuzz:
	./scripts/install-deps.sh --fuzz
	FUZZ_RUNS="$(FUZZ_RUNS)" FUZZ_TIME="$(FUZZ_TIME)" FUZZ_JOBS="$(FUZZ_JOBS)" ./tests/fuzz/run.sh

# Reconfigures with the requested PREFIX (the default paths compiled into the
# server and rampart.pc follow it), then installs under $(DESTDIR)$(PREFIX).
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD_DIR)

# The Debian package, built in build-deb/ (its own tree: prefix /usr,
# configuration in /etc/rampart): build-deb/rampart_<version>_<arch>.deb.
deb:
	./scripts/install-deps.sh --deb
	JOBS=$(JOBS) ./scripts/make-deb.sh build-deb

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) build-fuzz build-deb
