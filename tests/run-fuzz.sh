#!/bin/sh
# Run each libFuzzer target for FUZZ_SECONDS on its seed corpus.
# Corpora: tests/fuzz/corpus/<target>/ (seeds, committed) plus a scratch copy.
set -u
secs=${FUZZ_SECONDS:-60}
pass=0; fail=0
for f in "$@"; do
  name=$(basename "$f")
  work=$(mktemp -d); mkdir -p "$work/corpus" "$work/artifacts"
  [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/corpus/"
  if "$f" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=0 \
       -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1; then
    pass=$((pass + 1)); echo "fuzz $name: ok ($(grep -c . "$work/log") log lines, ${secs}s)"
  else
    fail=$((fail + 1)); echo "fuzz $name: CRASH"; tail -40 "$work/log"
    mkdir -p build-fuzz/crashes && cp "$work"/artifacts/* build-fuzz/crashes/ 2>/dev/null
  fi
  rm -rf "$work"
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
