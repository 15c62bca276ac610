# mmrun: a thin wrapper around CMake. `make run` for the demo, `make test` for the tests.
NPROC := $(shell nproc 2>/dev/null || echo 2)
DEMO_DATA := data/time_series.dat
DEMO_BYTES := 40000000

.PHONY: all build bootstrap run test bench clean

all: build

bootstrap:
	@bash scripts/bootstrap

# Configure only when build/ has no generated build system yet (a failed configure
# leaves a CMakeCache.txt but no Makefile); afterwards `cmake --build` re-runs
# configure by itself whenever a CMakeLists.txt changes.
build: bootstrap
	@if [ ! -f build/Makefile ] && [ ! -f build/build.ninja ]; then \
	  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release; \
	fi
	cmake --build build -j$(NPROC)

run: build
	@if [ "$$(stat -c %s $(DEMO_DATA) 2>/dev/null)" != "$(DEMO_BYTES)" ]; then \
	  echo "generating $(DEMO_DATA) (1000000 x 10 float32)" >&2; \
	  mkdir -p $(dir $(DEMO_DATA)) && build/mmrun -q configs/demo_generate.json >/dev/null; \
	fi
	@build/mmrun --workers 4 configs/demo.json

test: build
	cd build && ctest --output-on-failure --no-tests=error -j2 --timeout 600

bench: build
	@if [ -x bench/run ]; then bench/run; else echo "benchmarks are not written yet (bench/run)"; fi

clean:
	rm -rf build data
