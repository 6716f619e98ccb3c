#!/usr/bin/env bash
# Runs every test: the end-to-end suite (pytest, as root, against the sanitized daemon) and,
# beside it, the unit and BPF-decision binaries (built with ASan/UBSan) and a short run of each
# fuzz target. Ends with one line: "aigw: N passed, N failed".
set -u
cd "$(dirname "$0")/.."

passed=0
failed=0
failed_names=()

# What a sanitizer prints when it finds something: UBSan's "runtime error:", and the
# "ERROR: AddressSanitizer/LeakSanitizer/…" header of the others.
SAN_REPORT='runtime error:|ERROR: [A-Za-z]+Sanitizer|SUMMARY: [A-Za-z]+Sanitizer'
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

count() { # $1: a summary line; adds its numbers
	local p f e
	p=$(grep -oE '[0-9]+ passed' <<<"$1" | grep -oE '[0-9]+' || true)
	f=$(grep -oE '[0-9]+ failed' <<<"$1" | grep -oE '[0-9]+' || true)
	e=$(grep -oE '[0-9]+ errors?' <<<"$1" | grep -oE '[0-9]+' || true)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0}))
}

# Each job below runs in the background with its output in $jobs_dir/N.out and its result
# in $jobs_dir/N.res ("PASSED FAILED" and, when it failed, its name); the outputs are printed
# and the results added in job order once all have ended, so each one's output stays
# together. A job that leaves no result (killed, or the shell died) counts as failed.
jobs_max=$(nproc 2>/dev/null || echo 2)
njobs=0

# A suite run on build/aigw itself (AIGW_BIN) needs it before its first test, not beside it.
if [ -n "${BUILD_PLAIN:-}" ] && [ -n "${AIGW_BIN:-}" ] &&
	[ "$(realpath -m "$AIGW_BIN")" = "$(realpath -m build/aigw)" ]; then
	if ! make --no-print-directory -j"$jobs_max" $BUILD_PLAIN; then
		echo "make $BUILD_PLAIN failed"
		echo "aigw: 0 passed, 1 failed"
		exit 1
	fi
	BUILD_PLAIN=
fi
jobs_dir=$(mktemp -d) # (after the build above: its failure leaves nothing behind)

run_unit() { # $1: a unit or BPF test binary
	local t=$1 out rc summary p f
	echo "== $t"
	# A binary that hangs (a scan spinning, a lock never given) fails here, not at CI's limit.
	out=$(timeout -k 5 "${UNIT_TIMEOUT:-600}" "$t" 2>&1)
	rc=$?
	echo "$out" | grep -vE '^ok ' || true
	summary=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "$t: timed out after ${UNIT_TIMEOUT:-600} s"
		echo "${summary%% *} 1 $t" | sed 's/^ /0 /' >&3
		return
	fi
	if [ -z "$summary" ]; then
		echo "$t: crashed (exit $rc) before its summary"
		echo "0 1 $t" >&3
		return
	fi
	p=$(grep -oE '^[0-9]+' <<<"$summary")
	f=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+')
	if grep -qE "$SAN_REPORT" <<<"$out"; then
		echo "$t: sanitizer report (above)"
		echo "$p $((f + 1)) $t" >&3
	elif [ "$rc" -ne 0 ]; then
		echo "$p $f $t" >&3
	else
		echo "$p $f" >&3
	fi
}

# A fuzz target runs briefly on its corpus (make fuzz runs them longer). It passes when
# libFuzzer started fuzzing (its log says INITED: a harness that never gets there has not
# been tested) and ended cleanly with no sanitizer report.
run_fuzz() { # $1: a fuzz target binary
	local f=$1 name work rc secs=${FUZZ_SMOKE_SECONDS:-2}
	name=$(basename "$f" | sed 's/^fuzz_//')
	work=$(mktemp -d)
	echo "== $f (${secs}s)"
	# A crashing input is kept beside the target (build/fuzz-smoke/), not in the checkout.
	"$f" -max_total_time="$secs" -artifact_prefix="$(dirname "$f")/" "$work" \
		"tests/fuzz/corpus/$name" >"$work.log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ] && grep -qE '^#[0-9]+[[:space:]]+INITED' "$work.log" &&
		! grep -qE "$SAN_REPORT" "$work.log"; then
		grep -E "^Done" "$work.log" || true
		echo "1 0" >&3
	else
		# The finding and its stack, wherever in the log it came; else how the run ended.
		echo "$f: exit $rc"
		grep -qE '^#[0-9]+[[:space:]]+INITED' "$work.log" || echo "$f: libFuzzer never reached INITED"
		# (a harness's CHECK prints "invariant failed: ..." before libFuzzer's report)
		if grep -qE "$SAN_REPORT|^==[0-9]+==|^invariant failed" "$work.log"; then
			grep -E -A30 "$SAN_REPORT|^==[0-9]+==|^invariant failed" "$work.log" | head -60
		else
			tail -40 "$work.log"
		fi
		grep -E "Test unit written to" "$work.log" | tail -1
		echo "0 1 $f" >&3
	fi
	rm -rf "$work" "$work.log"
}

start_job() { # $1: run_unit or run_fuzz, $2: its binary; waits while jobs_max run
	while [ "$(jobs -pr | wc -l)" -ge "$jobs_max" ]; do
		wait -n
	done
	"$1" "$2" >"$jobs_dir/$njobs.out" 2>&1 3>"$jobs_dir/$njobs.res" &
	njobs=$((njobs + 1))
}

# The unit and fuzz jobs run in the background while the end-to-end suite runs: that suite
# leaves about a third of the CPUs idle (timeouts, slow readers, daemons starting), and the
# jobs take that idle CPU instead of a turn of their own. They run SCHED_IDLE: a process of
# the suite that wakes takes its CPU from a job at once. Merely niced (10), the jobs made the
# suite ~150 s slower than alone, far more than their share of its CPU: the suite's calls
# are chains of wakes (client, gateway, mock), each of which could wait out a job's slice.
run_jobs() {
	chrt --idle -p 0 "$BASHPID" >/dev/null 2>&1 ||
		renice -n "${JOBS_NICE:-10}" -p "$BASHPID" >/dev/null 2>&1 || true
	# make test leaves build/aigw (BUILD_PLAIN: its make target) and the jobs' binaries
	# (BUILD_JOBS) to be built here, so that the suite starts as soon as the sanitized daemon
	# is built. build/aigw comes first, as the suite's memory tests wait for it: its result is
	# plain.done or plain.failed in $jobs_dir (AIGW_PLAIN_STATUS). A failed build of the jobs
	# runs no job: the binaries left from an earlier build would say nothing of this tree.
	if [ -n "${BUILD_PLAIN:-}" ]; then
		if make --no-print-directory -j"$jobs_max" $BUILD_PLAIN >"$jobs_dir/plain.out" 2>&1; then
			touch "$jobs_dir/plain.done"
		else
			touch "$jobs_dir/plain.failed"
		fi
	fi
	if [ -n "${BUILD_JOBS:-}" ]; then
		if ! make --no-print-directory -j"$jobs_max" $BUILD_JOBS >"$jobs_dir/build.out" 2>&1; then
			touch "$jobs_dir/build.failed"
			echo 0 >"$jobs_dir/count"
			return
		fi
	fi
	# The fuzz targets first: they run for a fixed time, the unit tests fill the other slots.
	for f in build/fuzz-smoke/fuzz_*; do
		[ -x "$f" ] && start_job run_fuzz "$f"
	done
	for t in build/tests/unit/test_* build/tests/bpf/test_*; do
		[ -x "$t" ] && start_job run_unit "$t"
	done
	wait
	echo "$njobs" >"$jobs_dir/count"
}
run_jobs &
jobs_pid=$!
# Interrupted, the jobs go too: a background job ignores the terminal's SIGINT, and a unit
# test under timeout is in a process group of its own.
kill_tree() { # $1: a pid; stopped first, so that it starts no new child meanwhile
	local c
	kill -STOP "$1" 2>/dev/null
	for c in $(pgrep -P "$1"); do
		kill_tree "$c"
	done
	kill -TERM "$1" 2>/dev/null
	kill -CONT "$1" 2>/dev/null
}
trap 'kill_tree "$jobs_pid"; rm -rf "$jobs_dir" "${out_file:-}"; exit 130' INT TERM

# The end-to-end suite, in one pytest-xdist worker per CPU (conftest.py keeps the workers'
# addresses and ports apart, and runs the tests of the shared provider addresses in one). The
# suite is CPU-bound: one worker more (E2E_WORKERS=3) was no faster on 2 CPUs.
echo "== tests/e2e (pytest)"
export AIGW_BIN=${AIGW_BIN:-$PWD/build/aigw-san}
if [ -n "${BUILD_PLAIN:-}" ]; then
	export AIGW_PLAIN_STATUS=$jobs_dir/plain AIGW_PLAIN_PID=$jobs_pid
else
	unset AIGW_PLAIN_STATUS AIGW_PLAIN_PID
fi
workers=()
if /usr/bin/python3 -c "import xdist" 2>/dev/null; then
	# (a worker that dies is not replaced: its share of addresses and ports would be no one's)
	workers=(-n "${E2E_WORKERS:-$jobs_max}" --dist loadgroup --max-worker-restart=0)
else
	echo "pytest-xdist is missing (scripts/setup.sh installs it): the suite runs in one process"
fi
out_file=$(mktemp)
/usr/bin/python3 -m pytest tests/e2e -q -p no:cacheprovider "${workers[@]}" ${PYTEST_ARGS:-} \
	2>&1 | tee "$out_file"
rc=${PIPESTATUS[0]}
summary=$(grep -E '[0-9]+ (passed|failed)' "$out_file" | tail -1)
if [ -z "$summary" ]; then
	echo "pytest: no summary"
	failed=$((failed + 1))
	failed_names+=("pytest")
else
	count "$summary"
	grep -qE '[0-9]+ (failed|errors?)' <<<"$summary" && failed_names+=("tests/e2e")
	# interrupted, or stopped by an internal error: what did not run has not passed
	if [ "$rc" -ne 0 ] && ! grep -qE '[0-9]+ (failed|errors?)' <<<"$summary"; then
		echo "pytest: exit $rc with no test failed (interrupted?)"
		failed=$((failed + 1))
		failed_names+=("pytest")
	fi
fi
# pytest's one-line reasons, said again at the end: the unit tests' output comes after them,
# and CI keeps only a run's last lines (with CI set, pytest does not cut them to the terminal)
e2e_failures=$(grep -E '^(FAILED|ERROR) ' "$out_file" | cut -c1-2000 || true)
rm -f "$out_file"

# The jobs' outputs, in job order, once all have ended.
suite_end=$SECONDS
wait "$jobs_pid"
echo "== the unit and fuzz jobs ended $((SECONDS - suite_end)) s after the suite"
if [ -n "${BUILD_PLAIN:-}" ]; then
	echo "== make $BUILD_PLAIN"
	cat "$jobs_dir/plain.out"
	if [ ! -e "$jobs_dir/plain.done" ]; then
		echo "make $BUILD_PLAIN failed"
		failed=$((failed + 1))
		failed_names+=("make $BUILD_PLAIN")
	fi
fi
if [ -n "${BUILD_JOBS:-}" ]; then
	echo "== make $BUILD_JOBS"
	cat "$jobs_dir/build.out"
	if [ -e "$jobs_dir/build.failed" ]; then
		echo "make $BUILD_JOBS failed: no unit test or fuzz target ran"
		failed=$((failed + 1))
		failed_names+=("make $BUILD_JOBS")
	fi
fi
njobs=$(cat "$jobs_dir/count" 2>/dev/null || echo 0)
for ((i = 0; i < njobs; i++)); do
	cat "$jobs_dir/$i.out"
	read -r p f name <"$jobs_dir/$i.res" || { p=0 f=1 name="job $i (no result)"; }
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-1}))
	[ -n "${name:-}" ] && failed_names+=("$name")
done
if [ ! -s "$jobs_dir/count" ]; then
	echo "the unit and fuzz jobs ended before counting theirs"
	failed=$((failed + 1))
	failed_names+=("unit and fuzz jobs")
fi
rm -rf "$jobs_dir"

[ -n "$e2e_failures" ] && printf '== tests/e2e, what failed\n%s\n' "$e2e_failures"
[ ${#failed_names[@]} -gt 0 ] && echo "failing: ${failed_names[*]}"
echo "aigw: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failed_names[@]} -eq 0 ]
