# systemvm: `make demo` shows the router in a namespace lab; `make test` runs every test.
# Both install what they need first (Debian packages, npm ci) and are safe to run again.
SHELL := /bin/bash
.DEFAULT_GOAL := help

APT_PACKAGES := iptables ipset iproute2 iperf3 conntrack curl procps psmisc netcat-openbsd jq busybox udhcpc isc-dhcp-client dnsutils dnsmasq-base kea-admin g++ make python3 cloud-init wget openssl haproxy qemu-utils xorriso bzip2 xz-utils zip unzip nfs-ganesha nfs-ganesha-vfs libnfs-utils qemu-system-x86 openssh-client debootstrap e2fsprogs iputils-ping iputils-arping nfacct
NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: help deps apt-deps build check typecheck test test-unit test-netns golden record-fake-kernel demo demo-down bench bench-core bench-dhcp-dns bench-soak bench-metadata bench-lb bench-storage bench-secgroup bench-image image image-qcow2 image-test clean

help:
	@echo "make demo        router in a namespace lab: NAT, static NAT, port forwarding, firewall shown with real commands"
	@echo "make demo-down   tear the demo lab down"
	@echo "make test        install what is needed, build, run every test (unit, golden, netns)"
	@echo "make check       typecheck + unit + golden tests (no root needed)"
	@echo "make bench       every benchmark suite (writes bench/results/*.json)"
	@echo "make bench-core  routerd core: apply, add-one, forwarding, memory"
	@echo "make bench-dhcp-dns  DHCP against Kea and dnsmasq, DNS against dnsmasq"
	@echo "make bench-soak  routerd under mixed load for 10 minutes (SOAK_SECONDS=n shortens it)"
	@echo "make bench-metadata  metadata and password servers against Apache and a Python server as CloudStack runs them"
	@echo "make bench-lb    load balancers: kernel l4 and managed HAProxy against HAProxy as CloudStack runs and reloads it"
	@echo "make bench-storage  storaged: 1 GiB download against curl, copy against cp, resume waste, memory"
	@echo "make bench-secgroup  security groups: 1,000 ports applied, a member and a rule added, forwarding, against the raw restores and CloudStack's iptables loop"
	@echo "make bench-image the image: compressed size, boot to a ready API under QEMU, memory left with 10k forwards"
	@echo "make image       the bootable system VM: build/image/{rootfs.ext4,vmlinuz,initrd.img} (rootfs stage cached)"
	@echo "make image-qcow2 the same, plus the compressed template build/image/systemvm.qcow2"
	@echo "make image-test  the image booted under QEMU as a router, a DHCP server, and with a bad boot line"
	@echo "make golden      rewrite golden files after reviewing a renderer change"
	@echo "make record-fake-kernel  re-record the real tools' answers the kernel fake must match (root)"

# Debian packages: installed only when one is missing (apt-get update once, non-interactive).
apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(NODE_MODULES_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: apt-deps $(NODE_MODULES_STAMP)

# dist/ holds the tsc output (tests, CLI) and dist/routerd.mjs and dist/storaged.mjs, each daemon as one tree-shaken
# bundle: what the image runs. Bundling drops the parts of TypeBox and fastify routerd never
# loads, which is about a third of its resident memory. V8 keeps a script's whole source in the
# heap (lazy functions compile from it): whitespace minification takes 0.9 MB off that string and
# ~1.5 MB off the resident set. Syntax and name minification measured worse (+1 to +5 MB): they
# write functions in forms V8 compiles eagerly. Names stay, so stack traces still read.
# The native addon for batched UDP (DNS), built with npm's own node-gyp against the installed
# Node headers (no download).
NODE_GYP := $(shell dirname "$$(readlink -f "$$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
NODE_DIR := $(shell d=$$(npm config get nodedir 2>/dev/null); [ -n "$$d" ] && [ "$$d" != undefined ] && echo $$d || echo /usr)
UDP_BATCH := native/udp-batch/build/Release/udp_batch.node

$(UDP_BATCH): native/udp-batch/udp_batch.c native/udp-batch/binding.gyp
	cd native/udp-batch && node $(NODE_GYP) rebuild --nodedir=$(NODE_DIR) --loglevel=warn

ESBUILD_FLAGS := --log-level=warning --minify-whitespace \
  --banner:js="import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"

build: deps $(UDP_BATCH)
	npx tsc -p tsconfig.build.json
	npx esbuild src/router/main.ts --bundle --platform=node --format=esm --target=node20 \
	  --external:sockopt --outfile=dist/routerd.mjs $(ESBUILD_FLAGS)
	npx esbuild src/storage/main.ts --bundle --platform=node --format=esm --target=node20 \
	  --outfile=dist/storaged.mjs $(ESBUILD_FLAGS)
	npx esbuild src/boot/shell/main.ts --bundle --platform=node --format=esm --target=node20 \
	  --outfile=dist/systemvm-boot.mjs $(ESBUILD_FLAGS)

typecheck: deps
	npx tsc -p tsconfig.json --noEmit

check: typecheck
	npx vitest run test/unit

# A test stuck in a loop that never yields cannot be stopped by vitest's own timeouts: the
# whole run is bounded, so CI ends with a message naming the files that never finished.
TEST_RUN_LIMIT := 70m

test: build image typecheck
	@mkdir -p build
	timeout --kill-after=30s $(TEST_RUN_LIMIT) npx vitest run --reporter=default --reporter=json --outputFile=build/vitest.json \
	  | tee build/vitest.log; status=$${PIPESTATUS[0]}; \
	  node scripts/test-summary.mjs build/vitest.json build/vitest.log $$status; exit $$status

test-unit: deps
	npx vitest run test/unit

test-netns: build
	npx vitest run test/netns

golden: deps
	UPDATE_GOLDEN=1 npx vitest run test/unit/render/golden.test.ts

# What the real iptables/ipset/ip answer, recorded in a throwaway namespace; the fake kernel
# (src/router/kernel/fake) must answer the same (test/unit/kernel/fake/replay.test.ts).
record-fake-kernel: apt-deps
	node scripts/record-fake-kernel.mjs test/unit/kernel/fake/recorded-transcript.json

# The image (systemvm-image/build.sh): Debian 12 by debootstrap, cached per machine, then the
# built tree on a copy of it.
IMAGE_PACKAGES := debootstrap e2fsprogs qemu-utils

image: build
	@$(MAKE) --no-print-directory apt-deps APT_PACKAGES="$(IMAGE_PACKAGES)"
	systemvm-image/build.sh build/image

bench-image: image-qcow2
	@$(MAKE) --no-print-directory apt-deps APT_PACKAGES="qemu-system-x86 openssh-client curl"
	npx tsc -p tsconfig.bench.json
	node build/bench/bench/image.js

# The image booted under QEMU (part of make test too).
image-test: image
	npx vitest run test/image

image-qcow2: build
	@$(MAKE) --no-print-directory apt-deps APT_PACKAGES="$(IMAGE_PACKAGES)"
	QCOW2=1 systemvm-image/build.sh build/image

demo: build
	node dist/lab/demo.js up

demo-down: build
	node dist/lab/demo.js down

bench: bench-core bench-dhcp-dns bench-soak bench-metadata bench-lb bench-storage bench-secgroup bench-image

# Every program a suite spawns (itself, through the lab, or through routerd), by package; each
# target installs its own list, so a fresh machine needs nothing else. The lab: ip (iproute2),
# sysctl (procps); routerd: ip, ipset, iptables-restore/-save, sysctl, conntrack, openssl (the
# metadata TLS certificate); every suite:
# git (the revision measured), iptables (the machine line).
BENCH_COMMON_PACKAGES := iproute2 procps iptables ipset conntrack git openssl
# core: nft (router-state.ts resets and dumps the router), iperf3 (forwarding).
BENCH_CORE_PACKAGES := $(BENCH_COMMON_PACKAGES) nftables iperf3
# dhcp-dns: perfdhcp (kea-admin), dnsperf, the peers dnsmasq and kea-dhcp4, ss (iproute2).
BENCH_DHCP_DNS_PACKAGES := $(BENCH_COMMON_PACKAGES) kea-admin kea-dhcp4-server dnsperf dnsmasq-base
# soak: perfdhcp, dnsperf, dnsmasq (the upstream resolver).
BENCH_SOAK_PACKAGES := $(BENCH_COMMON_PACKAGES) kea-admin dnsperf dnsmasq-base
# metadata: wrk (the load), curl (answer checks), the peers apache2 and python3, dnsmasq (the
# upstream resolver), ss (iproute2).
BENCH_METADATA_PACKAGES := $(BENCH_COMMON_PACKAGES) wrk curl apache2 python3 dnsmasq-base gcc
# lb: wrk (the load), curl (answer checks), haproxy (the peer, and routerd's mode http), gcc (the
# backends' server, bench/peers/http-backend.c), ss (iproute2).
BENCH_LB_PACKAGES := $(BENCH_COMMON_PACKAGES) wrk curl haproxy gcc
# storage: the storage lab and the suite's tmpfs mounts: ip (iproute2), mount/umount (mount);
# the peers and checks: curl, cp/cmp/sha256sum (coreutils, diffutils); git, iptables (the
# machine line). storaged spawns nothing for path stores and raw images.
BENCH_STORAGE_PACKAGES := iproute2 mount git iptables curl coreutils diffutils
# secgroup: iptables/ip6tables/ebtables-restore, ipset and nfacct (routerd and the peer), iperf3, sysctl
# (procps), ip (iproute2).
BENCH_SECGROUP_PACKAGES := $(BENCH_COMMON_PACKAGES) iperf3 nfacct

bench-core: build
	@$(MAKE) --no-print-directory apt-deps APT_PACKAGES="$(BENCH_CORE_PACKAGES)"
	npx tsc -p tsconfig.bench.json
	node build/bench/bench/core.js

bench-dhcp-dns: build
	@$(MAKE) --no-print-directory apt-deps APT_PACKAGES="$(BENCH_DHCP_DNS_PACKAGES)"
	npx tsc -p tsconfig.bench.json
	node build/bench/bench/dhcp-dns.js

bench-soak: build
	@$(MAKE) --no-print-directory apt-deps APT_PACKAGES="$(BENCH_SOAK_PACKAGES)"
	npx tsc -p tsconfig.bench.json
	node build/bench/bench/soak.js

bench-metadata: build
	@$(MAKE) --no-print-directory apt-deps APT_PACKAGES="$(BENCH_METADATA_PACKAGES)"
	npx tsc -p tsconfig.bench.json
	node build/bench/bench/metadata.js

bench-lb: build
	@$(MAKE) --no-print-directory apt-deps APT_PACKAGES="$(BENCH_LB_PACKAGES)"
	npx tsc -p tsconfig.bench.json
	node build/bench/bench/lb.js

bench-storage: build
	@$(MAKE) --no-print-directory apt-deps APT_PACKAGES="$(BENCH_STORAGE_PACKAGES)"
	npx tsc -p tsconfig.bench.json
	node build/bench/bench/storage.js

bench-secgroup: build
	@$(MAKE) --no-print-directory apt-deps APT_PACKAGES="$(BENCH_SECGROUP_PACKAGES)"
	npx tsc -p tsconfig.bench.json
	node build/bench/bench/secgroup.js

clean:
	rm -rf dist build native/udp-batch/build
