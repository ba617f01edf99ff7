# netroot-agent: netrootd (resident health daemon) and netrootctl (command line).
#   make            build both programs into build/ (build-asan/ with SANITIZE=1)
#   make deps       install every build and test dependency with apt-get (as root)
#   make check      deps + build + unit and integration tests
#   make demo       deps + build + a walk-through on a sandbox Pi tree
#   make bench      deps + build + performance table
#   make deb        the Debian package (ARCH=armhf|arm64: for the Pi, into build/deb/)
#   make fuzz       libFuzzer harnesses for every parser, FUZZ_SECONDS each (tests/fuzz/)
#   make soak       netrootd under ASan (then valgrind) against a real tgtd with faults (tests/soak/)
#   make test-vm    end-to-end: a QEMU guest netboots like a Pi from an iSCSI root (tests/vm/)
#   make test-fresh make demo + make check on a fresh Debian 12 (a minbase chroot, tests/fresh/)
#   make test-packagings  real kernel installs on every packaging (tests/packagings/)

VERSION := $(shell sed -n '1s/.*(\(.*\)).*/\1/p' debian/changelog)
PREFIX  ?= /usr
DESTDIR ?=

SANITIZE ?= 0
# TEST_HOOKS=1 (the default) compiles in the fault hooks read from the environment
# (agent/testhooks.h) that the test suites need; debian/rules builds the package with TEST_HOOKS=0.
TEST_HOOKS ?= 1
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SAN_FLAGS :=
endif

CC      ?= cc
CFLAGS  ?= -O2 -g
# Messages are cut to fixed buffers on purpose (a log line, a sysfs value): no truncation warnings.
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
           -Wno-format-truncation \
           -D_GNU_SOURCE -DNETROOT_VERSION='"$(VERSION)"' -fstack-protector-strong \
           $(SAN_FLAGS) -MMD -MP
ifeq ($(TEST_HOOKS),1)
CFLAGS  += -DNETROOT_TEST_HOOKS
endif
LDFLAGS += -Wl,--as-needed -Wl,-z,relro -Wl,-z,now $(SAN_FLAGS)

PKG_CONFIG ?= pkg-config
# Each program links only what it uses: the resident daemon does not carry libcurl/TLS.
DAEMON_PKGS := libsystemd libiscsi libnl-3.0 libnl-route-3.0 inih
CTL_PKGS    := libsystemd libiscsi libnl-3.0 libnl-route-3.0 inih libcurl
pkg_cflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pkg_libs   = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)
CFLAGS += $(call pkg_cflags,$(CTL_PKGS))

MAINS    := agent/netrootd.c agent/netrootctl.c
LIB_SRCS := $(filter-out $(MAINS),$(wildcard agent/*.c))
LIB_OBJS := $(LIB_SRCS:agent/%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libnetroot.a

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TEST_LIBS  := $(call pkg_libs,$(CTL_PKGS) cmocka)

# Build and test dependencies (Debian 12 package names); `make deps` installs what is missing.
# Named even when another package happens to pull it in: lz4 and xz-utils compress the test
# initrds (check_initrd.sh, test_initrd); man-db: unit_file.sh runs man (debhelper pulls it in
# today). ansible, ansible-lint: contrib/ansible (fleet_ansible.sh); prometheus: its promtool
# tests contrib/prometheus (prometheus_rules.sh). tests/fresh (make test-fresh) proves the list.
DEPS := build-essential pkg-config libsystemd-dev libiscsi-dev libnl-3-dev libnl-route-3-dev \
        libinih-dev libcurl4-openssl-dev libcmocka-dev clang libclang-rt-14-dev clang-format valgrind \
        iproute2 iptables tgt libiscsi-bin tftpd-hpa curl jq systemd procps psmisc \
        debhelper devscripts lintian fakeroot debootstrap cpio zstd lz4 xz-utils python3 util-linux \
        strace man-db ansible ansible-lint prometheus
VM_DEPS := qemu-system-x86 e2fsprogs apt-utils
# What make test-fresh needs on this machine (the fresh machine installs DEPS itself).
FRESH_DEPS := debootstrap zstd git

.PHONY: all deps check check-unit check-integration demo bench deb deb-cross clean install \
        format format-check fuzz soak test-vm vm-deps test-fresh fresh-deps print-deps \
        test-packagings
all: $(BUILD)/netrootd $(BUILD)/netrootctl

# The package and the tests share build/: a stamp named after TEST_HOOKS makes every object
# rebuild when the switch changes, so a hook-free package never links a test build's objects.
HOOKS_STAMP := $(BUILD)/.test-hooks-$(TEST_HOOKS)
$(HOOKS_STAMP):
	@mkdir -p $(dir $@)
	@rm -f $(BUILD)/.test-hooks-*
	@touch $@

$(BUILD)/obj/%.o: agent/%.c $(HOOKS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/netrootd: $(BUILD)/obj/netrootd.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,$(DAEMON_PKGS))

$(BUILD)/netrootctl: $(BUILD)/obj/netrootctl.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,$(CTL_PKGS))

$(BUILD)/tests/%: tests/unit/%.c $(LIB) $(HOOKS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Iagent $(call pkg_cflags,cmocka) $(LDFLAGS) -o $@ $< $(LIB) $(TEST_LIBS)

# $(call install_missing,PACKAGES): apt-get installs what of PACKAGES is not installed yet.
define install_missing
	@missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
			|| echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "make deps: missing packages: $$missing (run 'make deps' as root)" >&2; \
			exit 1; \
		fi; \
		echo "make deps: installing" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null; \
	fi
endef

deps:
	$(call install_missing,$(DEPS))

# The VM suite's own extras (QEMU is large; make check does not need it).
vm-deps: deps
	$(call install_missing,$(VM_DEPS))

check: deps
	$(MAKE) all $(UNIT_BINS)
	BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh

check-unit: deps
	$(MAKE) all $(UNIT_BINS)
	BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh unit

check-integration: deps
	$(MAKE) all $(UNIT_BINS)
	BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh integration

# make demo VM=1 adds the VM scenario (tests/vm/): a Pi-like guest boots, upgrades and confirms.
demo: deps
	$(MAKE) all
	BUILD=$(BUILD) tests/demo.sh
ifeq ($(VM),1)
	$(MAKE) vm-deps
	BUILD=$(BUILD) bash tests/vm/run.sh --demo
endif

bench: deps
	$(MAKE) all
	BUILD=$(BUILD) tests/bench.sh

# make deb: the native package (in ..); make deb ARCH=armhf|arm64: the Raspberry Pi package, built
# by tests/cross.sh in a qemu-user chroot and copied to build/deb/ (docs/PACKAGING.md).
ifeq ($(filter-out $(if $(ARCH),$(shell dpkg --print-architecture)),$(ARCH)),)
deb: deps
	dpkg-buildpackage -us -uc -b
else
deb:
	bash tests/cross.sh $(ARCH)
endif

deb-cross:
	bash tests/cross.sh armhf
	bash tests/cross.sh arm64

install: all
	install -D -m 0755 $(BUILD)/netrootd $(DESTDIR)$(PREFIX)/sbin/netrootd
	install -D -m 0755 $(BUILD)/netrootctl $(DESTDIR)$(PREFIX)/sbin/netrootctl
	install -D -m 0644 etc/agent.conf $(DESTDIR)/etc/netroot/agent.conf
	install -D -m 0644 units/netrootd.service $(DESTDIR)/lib/systemd/system/netrootd.service
	install -D -m 0644 units/netroot-confirm.service \
		$(DESTDIR)/lib/systemd/system/netroot-confirm.service
	install -D -m 0644 units/netroot-agent.catalog \
		$(DESTDIR)$(PREFIX)/lib/systemd/catalog/netroot-agent.catalog
	install -D -m 0644 man/netrootd.8 $(DESTDIR)$(PREFIX)/share/man/man8/netrootd.8
	install -D -m 0644 man/netrootctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/netrootctl.8
	install -D -m 0644 man/netroot-agent.conf.5 \
		$(DESTDIR)$(PREFIX)/share/man/man5/netroot-agent.conf.5
	install -D -m 0755 hooks/zz-netroot $(DESTDIR)/etc/kernel/postinst.d/zz-netroot
	install -D -m 0755 hooks/zz-netroot-postrm $(DESTDIR)/etc/kernel/postrm.d/zz-netroot
	install -D -m 0755 hooks/zz-netroot-post-update \
		$(DESTDIR)/etc/initramfs/post-update.d/zz-netroot
	install -D -m 0755 hooks/netroot-apt-pre $(DESTDIR)/etc/netroot/netroot-apt-pre
	install -D -m 0755 hooks/netroot-apt-post $(DESTDIR)/etc/netroot/netroot-apt-post
	install -D -m 0644 hooks/99netroot $(DESTDIR)/etc/apt/apt.conf.d/99netroot

FUZZ_SECONDS ?= 600
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh

soak: deps
	$(MAKE) SANITIZE=1 all
	$(MAKE) SANITIZE=0 all
	bash tests/soak/run.sh
	BUILD=build bash tests/soak/upgrade_killpoints.sh

test-vm: vm-deps
	$(MAKE) all
	BUILD=$(BUILD) bash tests/vm/run.sh

fresh-deps:
	$(call install_missing,$(FRESH_DEPS))

# The README's make demo and make check in a fresh Debian 12 chroot, on a clone of HEAD.
test-fresh: fresh-deps
	bash tests/fresh/run.sh

# Every package make deps and make vm-deps install (tests/fresh checks its base holds none).
print-deps:
	@echo $(DEPS) $(VM_DEPS)

# Every kernel packaging a Pi has (Debian's real raspi-firmware, a Raspbian stand-in) through
# real apt runs in the cached chroot: good, guarded failure, initramfs trigger, rollback.
test-packagings: deps
	$(MAKE) all
	BUILD=$(BUILD) bash tests/packagings/run.sh

test-package: deps
	$(MAKE) all
	BUILD=$(BUILD) bash tests/integration/apt_kernel.sh

format:
	clang-format -i agent/*.[ch] tests/unit/*.[ch]

format-check:
	clang-format --dry-run --Werror agent/*.[ch] tests/unit/*.[ch]

clean:
	rm -rf build build-asan

-include $(LIB_OBJS:.o=.d) $(BUILD)/obj/netrootd.d $(BUILD)/obj/netrootctl.d
