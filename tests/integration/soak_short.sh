#!/bin/bash
# A short soak in the default test run: tests/soak/run.sh (which sources common.sh and sets up
# the tgtd lab) on whatever BUILD is (build/ normally, build-asan/ under make SANITIZE=1 check),
# ~1500 probe cycles at 10 ms, a fault every ~220 cycles through five kinds, probing by login
# (the full soak and health_faults.sh cover discovery too), no valgrind.
# Asserted as in the full soak (make soak): every fault detected and recovered, fds flat, a clean
# exit without sanitizer errors or leaks; VmRSS flat on a bare build.
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$here/../../$BUILD ;; esac
export SOAK_CYCLES=${SOAK_SHORT_CYCLES:-1500} SOAK_FAULT_EVERY=${SOAK_SHORT_FAULT_EVERY:-220}
export SOAK_FAULTS="kill drop peer lun session" SOAK_MODES="login discovery"
export SOAK_RUNS="auto:$BUILD/netrootd"
exec bash "$here/../soak/run.sh"
