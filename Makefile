# mmrun: a thin wrapper around CMake. `make run` for the demo, `make test` for the tests.
NPROC := $(shell nproc 2>/dev/null || echo 2)
DEMO_DATA := data/time_series.dat
DEMO_BYTES := 40000000

.PHONY: all build bootstrap run test test-sanitize fuzz soak bench clean

all: build

bootstrap:
	@bash scripts/bootstrap

# Configure only when build/ has no generated build system yet (a failed configure
# leaves a CMakeCache.txt but no Makefile); afterwards `cmake --build` re-runs
# configure by itself whenever a CMakeLists.txt changes. `build` (and so `test`)
# turns the tests on; `run` configures without them when it configures first.
build: bootstrap
	@if [ ! -f build/Makefile ] && [ ! -f build/build.ninja ]; then \
	  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMMRUN_TESTS=ON; \
	elif grep -q '^MMRUN_TESTS:BOOL=OFF' build/CMakeCache.txt 2>/dev/null; then \
	  cmake -S . -B build -DMMRUN_TESTS=ON; \
	fi
	cmake --build build -j$(NPROC)

# The demo needs only mmrun and mmworker: no unit tests, no MPI, no Catch2.
run:
	@bash scripts/bootstrap --demo
	@if [ ! -f build/Makefile ] && [ ! -f build/build.ninja ]; then \
	  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMMRUN_TESTS=OFF; \
	fi
	cmake --build build -j$(NPROC) --target mmrun mmworker
	@if [ "$$(stat -c %s $(DEMO_DATA) 2>/dev/null)" != "$(DEMO_BYTES)" ]; then \
	  echo "generating $(DEMO_DATA) (1000000 x 10 float32)" >&2; \
	  mkdir -p $(dir $(DEMO_DATA)) && build/mmrun -q configs/demo_generate.json >/dev/null; \
	fi
	@build/mmrun configs/demo.json

test: build
	cd build && ctest --output-on-failure --no-tests=error -j2 --timeout 600

# The whole suite again, built with AddressSanitizer and UBSan (CI runs it).
test-sanitize: bootstrap
	@if [ ! -f build-asan/Makefile ]; then \
	  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMRUN_SANITIZE=ON; \
	fi
	cmake --build build-asan -j$(NPROC)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ctest --output-on-failure --no-tests=error -j2 --timeout 900

# libFuzzer targets (clang), each run FUZZ_SECONDS over its seed corpus in tests/fuzz/.
FUZZ_SECONDS ?= 30
fuzz: bootstrap
	@if [ ! -f build-fuzz/Makefile ]; then \
	  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMRUN_FUZZ=ON; \
	fi
	cmake --build build-fuzz -j$(NPROC) --target fuzz_npy_header fuzz_config fuzz_select fuzz_json_depth fuzz_part_state fuzz_plot_doc
	scripts/run_fuzzers build-fuzz $(FUZZ_SECONDS)

# Many runs with a worker killed at a random moment (SOAK_RUNS, default 200).
SOAK_RUNS ?= 200
soak: build
	MMRUN=$(CURDIR)/build/mmrun MMWORKER=$(CURDIR)/build/mmworker SOAK_RUNS=$(SOAK_RUNS) \
	  /usr/bin/python3 tests/integration/soak.py

bench: build
	@bash scripts/bootstrap --bench
	cmake --build build -j$(NPROC) --target mmrun_roofline
	bench/run

clean:
	rm -rf build build-asan build-fuzz data
