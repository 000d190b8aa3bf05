# shiplog — the two commands a newcomer needs:
#   make run     install missing Debian packages, build, serve on 127.0.0.1:8080 (SQLite in ./var)
#   make check   every test suite, on a normal build and on an ASan+UBSan build
# and:  make bench, make fuzz, make build, make clean

BUILD       ?= build
LISTEN      ?= 127.0.0.1:8080
DATA        ?= ./var
FUZZ_SECONDS ?= 60

.PHONY: all build run check bench fuzz clean deps deps-check

all: build

deps:
	@scripts/deps run

deps-check:
	@scripts/deps check

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	@echo
	@echo "  shiplog is starting on http://$(LISTEN)  (data in $(DATA), SQLite)"
	@echo "  try:   curl http://$(LISTEN)/health"
	@echo "         curl http://$(LISTEN)/health/ready"
	@echo "  stop:  Ctrl-C.   tests: make check.   configuration: README.md"
	@echo
	exec $(BUILD)/shiplog serve --listen $(LISTEN) --data $(DATA)

check: deps-check
	scripts/check

bench: deps-check
	@test -f build-release/build.ninja || meson setup build-release --buildtype=release
	ninja -C build-release
	bench/run build-release/shiplog
	bench/auth_run build-release/shiplog
	build-release/bench/audit_bench
	build-release/bench/classify_bench
	bench/hooks_run build-release/shiplog
	bench/drain_run build-release/bench/drain_bench
	bench/feed_run build-release/shiplog

fuzz: deps-check
	@test -f build-fuzz/build.ninja || CC=clang meson setup build-fuzz -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-fuzz
	scripts/fuzz $(FUZZ_SECONDS)

clean:
	rm -rf build build-asan build-clang build-release build-fuzz
