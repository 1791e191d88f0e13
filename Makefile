# Top-level make for the QEMU fork.  See README.md.
#
#   make                build (configuring with defaults first if needed)
#   make check          install deps, fetch the base, build, run all tests
#   make run            the main job: boot the guest, print a verdict
#   make bench          benchmarks
#   make patches        export upstream edits committed in build/src
#   make patches-check  fail if build/src holds edits patches/ lacks
#   make series         mailing-list series against v10.2.2 in build/series

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
        patches patches-check series clean distclean help

all: build

help:
	@sed -n '3,10s/^# //p' $(REPO)/Makefile

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
