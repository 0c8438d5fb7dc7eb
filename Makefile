# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
JOBS ?= $(shell nproc)
CTEST_FLAGS ?= --output-on-failure -j $(JOBS)
PRESET ?= $(if $(CI),ci,release)

.PHONY: demo test deps build build-asan test-release test-asan bench fuzz fuzz-run format tidy clean

# The demo needs only the cvmsim binary (the guests are built into it): not the tests and
# benchmarks, which are most of a fresh build.
demo: deps
	cmake --preset $(PRESET) >/dev/null
	cmake --build build -j $(JOBS) --target cvmsim
	./build/bin/cvmsim demo

test: build build-asan
	ctest --test-dir build $(CTEST_FLAGS)
	ctest --test-dir build-asan $(CTEST_FLAGS)

deps:
	./scripts/install-deps.sh

build: deps
	cmake --preset $(PRESET) >/dev/null
	cmake --build build -j $(JOBS)

build-asan: deps
	cmake --preset asan >/dev/null
	cmake --build build-asan -j $(JOBS)

# Fuzzing (docs/fuzzing.md): clang-14 + libFuzzer, ASan and UBSan, into build-fuzz/. The
# replayers of the same harnesses run in `make test` with GCC.
SECONDS ?= 60
fuzz:
	./scripts/install-deps.sh --fuzz
	./fuzz/build.sh

fuzz-run: fuzz
	./fuzz/run.sh $(SECONDS)

test-release: build
	ctest --test-dir build $(CTEST_FLAGS)

test-asan: build-asan
	ctest --test-dir build-asan $(CTEST_FLAGS)

bench: build
	./build/bin/cvmsim-bench

format:
	git ls-files '*.cc' '*.h' '*.c' | xargs clang-format-14 -i

# clang-tidy needs a compile command per source file, which the unity build does not
# list: configure a database without it (nothing is compiled there).
tidy: deps
	cmake --preset $(PRESET) -B build-tidy -DCVMSIM_UNITY_BUILD=OFF >/dev/null
	git ls-files 'src/*.cc' | xargs clang-tidy -p build-tidy --quiet

clean:
	rm -rf build build-asan build-fuzz build-tidy
