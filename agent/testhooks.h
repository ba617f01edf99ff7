/* Test hooks read from the environment (NETROOT_FAULT_*, NETROOT_TEST_*): only in a build made
 * for the tests (-DNETROOT_TEST_HOOKS, the Makefile's TEST_HOOKS=1). The package is built without
 * them, so nothing in an installed binary changes its behaviour because of an environment
 * variable someone else set (apt's, a shell's). */
#pragma once

#include <stdlib.h>

static inline const char *testhook_env(const char *name)
{
#ifdef NETROOT_TEST_HOOKS
        return getenv(name);
#else
        (void)name;
        return NULL;
#endif
}
