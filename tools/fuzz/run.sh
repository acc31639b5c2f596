#!/usr/bin/env bash
# Fuzz the C image reader (mount + read_chunk) with libFuzzer, ASan and UBSan.
#
#   tools/fuzz/run.sh [SECONDS]     (default 150)
#
# Builds tools/fuzz/fuzz_image.c with the runtime's image reader and crypto, writes a fresh seed
# corpus (tools/fuzz/make_seeds.py), checks that every seed mounts, fuzzes for SECONDS in one
# process and writes benchmarks/results/fuzz.json. Everything else lands in
# benchmarks/results/fuzz/ (ignored by git): the binary, seeds/ (+ seeds.txt), corpus/ (units the
# fuzzer found), fuzz.log and any crash-*, leak-*, timeout-* or oom-* input; exits non-zero if there
# is one.
# Reproduce a crash with: benchmarks/results/fuzz/fuzz_image benchmarks/results/fuzz/crash-...
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-150}"
case "$seconds" in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

out=benchmarks/results/fuzz
mkdir -p "$out"
probe_dir="$(mktemp -d)"
trap 'rm -rf "$probe_dir"' EXIT

# clang with the libFuzzer runtime: install from Debian's packages only when missing.
fuzzer_links() {
    {
        echo '#include <stddef.h>'
        echo '#include <stdint.h>'
        echo 'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }'
    } >"$probe_dir/probe.c"
    clang -fsanitize=fuzzer,address,undefined "$probe_dir/probe.c" -o "$probe_dir/probe" \
        >/dev/null 2>&1
}
if ! command -v clang >/dev/null 2>&1 || ! fuzzer_links; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "ooc: installing clang and its libFuzzer runtime" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        clang >/dev/null
    major="$(clang -dumpversion | cut -d. -f1)"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "libclang-rt-$major-dev" >/dev/null
    fuzzer_links || { echo "ooc: clang cannot link -fsanitize=fuzzer" >&2; exit 1; }
fi

if [ -f scripts/env.sh ]; then
    # shellcheck disable=SC1091
    source scripts/env.sh
fi

# Build: the harness with the whole runtime (c_runtime/sources.txt, the list every build uses).
# The crypto sources keep ASan, UBSan and edge coverage but not comparison tracing: the fuzzer
# cannot steer through AES anyway, and tracing every compare in the block cipher made each exec
# about 3x slower.
bin="$out/fuzz_image"
flags=(-std=c99 -Wall -Wextra -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
    -Ic_runtime/include)
echo "ooc: building $bin" >&2
rm -rf "$out/obj"
mkdir -p "$out/obj"
runtime=()
while IFS= read -r src; do
    case "$src" in
    '' | '#'*) ;;
    src/crypto/*)
        clang "${flags[@]}" -fno-sanitize-coverage=trace-cmp -c "c_runtime/$src" \
            -o "$out/obj/$(basename "$src" .c).o"
        ;;
    *) runtime+=("c_runtime/$src") ;;
    esac
done <c_runtime/sources.txt
clang "${flags[@]}" tools/fuzz/fuzz_image.c "${runtime[@]}" "$out"/obj/*.o -lm -o "$bin"

# Seeds, fresh every run; the fuzzer's own corpus starts empty so runs are comparable. Each seed
# must mount with the result make_seeds.py expects and, when it mounts, read back the chunks it
# expects: otherwise the harness and the seed generator disagree (keys, format) and the run means
# little.
rm -rf "$out/seeds" "$out/corpus"
mkdir -p "$out/corpus"
python tools/fuzz/make_seeds.py "$out/seeds" >"$out/seeds.txt"
cat "$out/seeds.txt" >&2
bad=0
while IFS= read -r line; do
    name="${line%%:*}"
    want="${line##*expect }"
    # -detect_leaks=0: libFuzzer may run an input a second time to look for a leak.
    report="$(FUZZ_IMAGE_VERBOSE=1 "$bin" -runs=1 -detect_leaks=0 "$out/seeds/$name" 2>&1 || true)"
    got="$(sed -n 's/^fuzz_image: mode .*: \(mount -\{0,1\}[0-9]*\) .*/\1/p' <<<"$report" |
        head -n1)"
    chunks="$(sed -n 's/^fuzz_image: \([0-9]*\) of \([0-9]*\) chunks.*/\1\/\2/p' <<<"$report" |
        head -n1)"
    [ -z "$chunks" ] || got="$got read $chunks"
    if [ "$got" != "$want" ]; then
        echo "ooc: seed $name: $got, expected $want" >&2
        bad=1
    fi
done <"$out/seeds.txt"
[ "$bad" -eq 0 ] || { echo "ooc: the seeds do not behave as make_seeds.py expects" >&2; exit 1; }

# Fuzz. Artifacts from earlier runs stay; only the ones newer than this stamp count.
stamp="$probe_dir/stamp"
touch "$stamp"
log="$out/fuzz.log"
echo "ooc: fuzzing for ${seconds}s (log: $log)" >&2
start=$(date +%s.%N)
set +e
"$bin" -max_total_time="$seconds" -max_len=262144 -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$out/" "$out/corpus" "$out/seeds" >"$log" 2>&1
fuzz_rc=$?
set -e
end=$(date +%s.%N)

crashes="$(find "$out" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
    -o -name 'timeout-*' -o -name 'oom-*' \) -newer "$stamp" | sort)"
python3 - "$log" "$seconds" "$start" "$end" "$fuzz_rc" "$crashes" <<'EOF'
import json
import re
import sys

log_path, seconds, start, end, rc, crashes = sys.argv[1:7]
text = open(log_path, errors="replace").read()
elapsed = float(end) - float(start)


def stat(name):
    m = re.search(rf"stat::{name}:\s+(\d+)", text)
    return int(m.group(1)) if m else None


execs = stat("number_of_executed_units")
status = re.findall(r"^#(\d+)\s+\S+\s+cov: (\d+) ft: (\d+)", text, re.M)
if execs is None and status:
    execs = int(status[-1][0])
found = [c for c in crashes.splitlines() if c]
result = {
    "seconds": int(seconds),
    "elapsed_seconds": round(elapsed, 1),
    "execs": execs,
    "execs_per_second": round(execs / elapsed, 1) if execs and elapsed > 0 else None,
    "libfuzzer_average_exec_per_sec": stat("average_exec_per_sec"),
    "coverage": int(status[-1][1]) if status else None,
    "features": int(status[-1][2]) if status else None,
    "corpus_units": (lambda m: int(m[-1]) if m else None)(re.findall(r"corp: (\d+)/", text)),
    "peak_rss_mb": stat("peak_rss_mb"),
    "crashes": len(found),
    "crash_files": found,
    "fuzzer_exit_code": int(rc),
}
with open("benchmarks/results/fuzz.json", "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")
print(
    f"fuzz: {result['execs']} execs in {result['elapsed_seconds']} s "
    f"({result['execs_per_second']} exec/s), cov {result['coverage']} ft {result['features']}, "
    f"corpus {result['corpus_units']}, crashes {result['crashes']} -> benchmarks/results/fuzz.json"
)
EOF

if [ -n "$crashes" ] || [ "$fuzz_rc" -ne 0 ]; then
    grep -m1 -A40 'ERROR:' "$log" >&2 || tail -40 "$log" >&2
    echo "ooc: the fuzzer found a problem (exit $fuzz_rc): $crashes" >&2
    exit 1
fi
