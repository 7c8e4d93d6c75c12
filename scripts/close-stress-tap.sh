#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# close-stress as a test program of a kernel test harness, kselftest style:
# TAP on stdout (close-stress --tap: one test point per core count), exit 0
# pass, 1 fail, 4 skip (KSFT_SKIP); a missing close-stress is a skip, not a
# failure, as kselftest asks of unmet dependencies.
#
# Linux: copy it into a kselftest directory (e.g. tools/testing/selftests/net/)
# and list it in that Makefile's TEST_PROGS; run_kselftest.sh runs it with no
# arguments and nests its TAP under the suite's. FreeBSD: install it with
# scripts/Kyuafile (kyua runs TAP test programs, also with no arguments).
#
# Settings come from the environment because neither harness passes arguments;
# kyua hands kyua.conf's test_suites.close-stress.NAME over as TEST_ENV_NAME.
#   CLOSE_STRESS             the command (default: close-stress on PATH)
#   CLOSE_STRESS_CORES       --cores (default: every allowed CPU, swept)
#   CLOSE_STRESS_ITERATIONS  --iterations (default: 100000)
#   CLOSE_STRESS_ARGS        more flags, e.g. "--race cross-thread --fail-on ECONNRESET"
ksft_skip=4

cmd=${CLOSE_STRESS:-close-stress}
cores=${CLOSE_STRESS_CORES:-${TEST_ENV_cores:-}}
iterations=${CLOSE_STRESS_ITERATIONS:-${TEST_ENV_iterations:-100000}}

# The first word must run; the rest (e.g. "node /path/bin/close-stress.js") are its arguments.
set -- $cmd
if ! command -v "$1" >/dev/null 2>&1; then
	echo "TAP version 13"
	echo "1..0 # SKIP $1 not found (npm install -g close-stress, or set CLOSE_STRESS)"
	exit $ksft_skip
fi

# shellcheck disable=SC2086 # CLOSE_STRESS_ARGS is a list of flags
exec "$@" ${cores:+--cores "$cores"} --iterations "$iterations" --quiet --tap ${CLOSE_STRESS_ARGS:-} ${TEST_ENV_args:-}
