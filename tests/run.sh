#!/usr/bin/env bash
# Runs every test: the unit and BPF-decision binaries (built with ASan/UBSan), then the
# end-to-end suite (pytest, as root, against the sanitized daemon). Ends with one line:
# "aigw: N passed, N failed".
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

for t in build/tests/unit/test_* build/tests/bpf/test_*; do
	[ -x "$t" ] || continue
	echo "== $t"
	out=$("$t" 2>&1)
	rc=$?
	echo "$out" | grep -vE '^ok ' || true
	summary=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
	if [ -z "$summary" ]; then
		echo "$t: crashed (exit $rc) before its summary"
		failed=$((failed + 1))
		failed_names+=("$t")
		continue
	fi
	count "$summary"
	if grep -qE "$SAN_REPORT" <<<"$out"; then
		echo "$t: sanitizer report (above)"
		failed=$((failed + 1))
		failed_names+=("$t")
	elif [ "$rc" -ne 0 ]; then
		failed_names+=("$t")
	fi
done

# Each fuzz target runs briefly on its corpus (make fuzz runs them longer).
for f in build/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f" | sed 's/^fuzz_//')
	work=$(mktemp -d)
	echo "== $f (${FUZZ_SMOKE_SECONDS:-15}s)"
	# A crashing input is kept in build/fuzz/, not in the checkout.
	"$f" -max_total_time="${FUZZ_SMOKE_SECONDS:-15}" -artifact_prefix=build/fuzz/ "$work" \
		"tests/fuzz/corpus/$name" >"$work.log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ] && ! grep -qE "$SAN_REPORT" "$work.log"; then
		grep -E "^Done" "$work.log" || true
		passed=$((passed + 1))
	else
		# The finding and its stack, wherever in the log it came; else how the run ended.
		echo "$f: exit $rc"
		# (a harness's CHECK prints "invariant failed: ..." before libFuzzer's report)
		if grep -qE "$SAN_REPORT|^==[0-9]+==|^invariant failed" "$work.log"; then
			grep -E -A30 "$SAN_REPORT|^==[0-9]+==|^invariant failed" "$work.log" | head -60
		else
			tail -40 "$work.log"
		fi
		grep -E "Test unit written to" "$work.log" | tail -1
		failed=$((failed + 1))
		failed_names+=("$f")
	fi
	rm -rf "$work" "$work.log"
done

echo "== tests/e2e (pytest)"
export AIGW_BIN=${AIGW_BIN:-$PWD/build/aigw-san}
out_file=$(mktemp)
/usr/bin/python3 -m pytest tests/e2e -q -p no:cacheprovider ${PYTEST_ARGS:-} 2>&1 | tee "$out_file"
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
rm -f "$out_file"

[ ${#failed_names[@]} -gt 0 ] && echo "failing: ${failed_names[*]}"
echo "aigw: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failed_names[@]} -eq 0 ]
