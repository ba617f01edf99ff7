/* Fault and test hooks read from the environment exist only in a test build. A hook that can
 * kill netrootctl mid-transaction or swap its input must never be reachable on a Pi: the
 * Makefile defines NETROOT_TEST_HOOKS for `make`, `make check` and the test suites
 * (TEST_HOOKS=1, the default), and debian/rules builds the package with TEST_HOOKS=0, where
 * testhook_env() is always NULL and the compiler drops the hook's code and its name.
 *
 * Usage: const char *v = testhook_env("NETROOT_FAULT_..."); if (v) ...; */
#pragma once

#include <stdbool.h>
#include <stdlib.h>

#ifdef NETROOT_TEST_HOOKS
#define TESTHOOKS_ENABLED true
static inline const char *testhook_env(const char *name)
{
        return getenv(name);
}
#else
#define TESTHOOKS_ENABLED false
static inline const char *testhook_env(const char *name)
{
        (void)name;
        return NULL;
}
#endif
