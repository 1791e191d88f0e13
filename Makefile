# Top-level make for the QEMU fork.  See README.md.
#
#   make                build (configuring with defaults first if needed)
#   make check          install deps, fetch the base, build, run all tests
#   make run            the main job: boot the guest, print a verdict
#   make bench          benchmarks
#   make patches        export upstream edits committed in build/src
#   make patches-check  fail if build/src holds edits patches/ lacks
#   make series         mailing-list series against v10.2.2 in build/series
#   make fuzz           libFuzzer targets under clang + ASan, FUZZ_TIME s each

REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
-include $(REPO)/config.mak
BUILD_DIR ?= $(REPO)/build
SRC_DIR ?= $(BUILD_DIR)/src
OBJ_DIR ?= $(BUILD_DIR)/obj
JOBS ?= $(shell nproc)
PYTHON ?= /usr/bin/python3
# ccache hits across clones in other places (CI): paths relative to the
# repo, and the working directory (part of the key with -g) left out
export CCACHE_BASEDIR ?= $(REPO)
export CCACHE_NOHASHDIR ?= 1

# qtest binaries 'make check' runs: the repo's own, and upstream's qos-test
# for the vhost-user and virtio paths this project changes.
OWN_QTESTS := $(patsubst %.c,%,$(notdir $(wildcard $(REPO)/tests/qtest/*-test.c)))
QTESTS := $(OWN_QTESTS) qos-test

.PHONY: all build configure deps check check-build check-only run bench \
        patches patches-check series clean distclean help fuzz-build fuzz

all: build

help:
	@sed -n '3,11s/^# //p' $(REPO)/Makefile

deps:
	@$(REPO)/fork/deps.sh

# Every build runs deps first, so that 'make', 'make run' and 'make check'
# each work as the first command on a fresh machine (fork/tests/test-make-graph.sh),
# then re-runs ./configure: it verifies the base, re-applies patches/ when
# they changed and links new repo files; upstream configure runs only when
# the options change.
configure: deps
	@cd $(REPO) && ./configure $(CONFIGURE_ARGS)

build: configure
	@$(MAKE) --no-print-directory -C $(OBJ_DIR) -j$(JOBS) all

check-build: build
	@ninja -C $(OBJ_DIR) -j$(JOBS) $(addprefix tests/qtest/,$(QTESTS))

check-only:
	@$(PYTHON) $(REPO)/fork/check.py --repo $(REPO) --build-dir $(BUILD_DIR) \
		$(if $(TESTS),--only '$(TESTS)')

check:
	@$(MAKE) --no-print-directory check-build
	@$(MAKE) --no-print-directory check-only

run: build
	@$(PYTHON) $(REPO)/tests/guest/main-job.py

bench: check-build
	@$(REPO)/fork/bench.sh

# libFuzzer targets (docs/devel/virtio-shmem.rst, docs/devel/vfio-user-dma.rst):
# a clang build of its own, then each target for FUZZ_TIME seconds, its
# corpus and any crash input kept under FUZZ_BUILD_DIR/fuzz/TARGET/
FUZZ_BUILD_DIR ?= $(REPO)/build-fuzz
FUZZ_TARGETS ?= vhost-user-shmem vfio-user-server
FUZZ_TIME ?= 600
FUZZ_ARGS ?= -len_control=0 -max_len=1024

fuzz-build:
	@DEPS_EXTRA="clang-14 libclang-rt-14-dev" $(REPO)/fork/deps.sh
	@cd $(REPO) && ./configure --build-dir=$(FUZZ_BUILD_DIR) --cc=clang \
		--cxx=clang++ --enable-fuzzing --enable-asan
	@ninja -C $(FUZZ_BUILD_DIR)/obj -j$(JOBS) qemu-fuzz-x86_64

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
		d=$(FUZZ_BUILD_DIR)/fuzz/$$t; mkdir -p $$d/corpus; \
		$(FUZZ_BUILD_DIR)/obj/qemu-fuzz-x86_64 --fuzz-target=$$t \
			-max_total_time=$(FUZZ_TIME) $(FUZZ_ARGS) \
			-artifact_prefix=$$d/ $$d/corpus; \
	done

patches:
	@$(REPO)/fork/patches.sh export $(SRC_DIR) $(REPO)/patches

patches-check:
	@$(REPO)/fork/patches.sh check $(SRC_DIR) $(REPO)/patches

series: configure
	@$(REPO)/fork/patches.sh series $(SRC_DIR) $(REPO) $(BUILD_DIR)/series
	@$(REPO)/fork/series-check.sh $(SRC_DIR) $(BUILD_DIR)/series

clean:
	@if [ -d $(OBJ_DIR) ]; then $(MAKE) -C $(OBJ_DIR) clean; fi

distclean:
	rm -rf $(BUILD_DIR) $(REPO)/config.mak
