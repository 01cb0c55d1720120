#!/usr/bin/env bash
# Coverage-guided fuzzing of the packet path, the configuration loader and the cluster serializer: AFL++ drives the
# harness in tests/Fabric.Fuzz through SharpFuzz (docs/security.md, "Fuzzing", says what each target checks).
#
#   scripts/fuzz.sh MINUTES [TARGET]     MINUTES of fuzzing per target (all targets unless one is named), in slices
#                                        of at most 10 minutes; a later run resumes where the last one stopped.
#                                        0 minutes only minimises the kept corpus and reports.
#
# Installs afl++ (Debian) and the SharpFuzz tool (dotnet tool restore) when missing, builds the harness and
# instruments the assemblies under test (in artifacts/fuzz/bin), writes each target's seeds (the wire fixtures and
# shipped documents, under their own names) into its corpus, fuzzes, then minimises queue and corpus with afl-cmin
# back into tests/Fabric.Fuzz/corpus/TARGET (kept in the repository): the seeds stay as they are, the inputs AFL
# found are kept by content hash. Prints per target: executions, paths, edges, crashes.
# Crashes stay in artifacts/fuzz/findings/TARGET; each one that reproduces on its own is listed with its exception.
# On a machine with the `cpulock` command, every heavy step runs under it; with FABRIC_FUZZ_UNLOCKED=1 only the
# build does, and fuzzing and minimising run without it (for a shared machine where they run under `nice -n 19`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

all_targets=(packet-path config serializer)
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh MINUTES [TARGET]   (targets: ${all_targets[*]})" >&2
  exit 2
fi
minutes=$1
targets=("${all_targets[@]}")
if [ $# -ge 2 ]; then
  if [[ " ${all_targets[*]} " != *" $2 "* ]]; then
    echo "fuzz: no target \"$2\" (targets: ${all_targets[*]})" >&2
    exit 2
  fi
  targets=("$2")
fi

lock=()
if command -v cpulock >/dev/null 2>&1; then lock=(cpulock); fi
fuzz_lock=("${lock[@]}")
if [ "${FABRIC_FUZZ_UNLOCKED:-0}" = 1 ]; then fuzz_lock=(); fi

if ! command -v afl-fuzz >/dev/null 2>&1; then
  echo "== installing afl++"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++ >/dev/null
fi

work="$root/artifacts/fuzz"
bin="$work/bin"
harness=("$(command -v dotnet)" "$bin/Fabric.Fuzz.dll")

echo "== building and instrumenting the harness (artifacts/fuzz/bin)"
rm -rf "$bin"
"${lock[@]}" dotnet publish tests/Fabric.Fuzz -c Release -o "$bin" -nologo -v quiet
dotnet tool restore >/dev/null
# The assemblies whose branches AFL sees: the dataplane, the configuration reader, the model, the serializer and
# MessagePack under it. The harness and the test fabrics stay uninstrumented.
for assembly in Fabric.Dataplane Fabric.Config Fabric.Model MessagePack; do
  dotnet sharpfuzz "$bin/$assembly.dll" >/dev/null
done
dotnet sharpfuzz "$bin/Fabric.Actors.dll" Fabric.Actors.Serialization >/dev/null

# A dictionary for the configuration target: HOCON's tokens and every key of the reference document.
mkdir -p "$work"
{
  for token in '{' '}' '[' ']' '=' ':' ',' '"' '.' '//' '#' '+=' '${' 'include' 'null' 'true' 'false' '10.0.0.1/24' 'fd00::1/64' '5s' '1500'; do
    printf '"%s"\n' "$(printf '%s' "$token" | sed 's/\\/\\\\/g; s/"/\\"/g')"
  done
  grep -oE '^[[:space:]]*[a-z][a-z0-9-]*[[:space:]]*[={]' hocon/fabric.reference.conf | tr -d ' ={' | sort -u | sed 's/.*/"&"/'
} > "$work/config.dict"

export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_AUTORESUME=1
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CRASHES=1
# An input that makes the code under test allocate without end fails with an OutOfMemoryException at 2 GiB (a
# crash AFL keeps) instead of taking the machine's memory from everything else on it.
export DOTNET_GCHeapHardLimit=0x80000000

stat() { awk -F' *: *' -v key="$1" '$1 == key { print $2 }' "$2" 2>/dev/null; }

summary=()
for target in "${targets[@]}"; do
  corpus="$root/tests/Fabric.Fuzz/corpus/$target"
  out="$work/findings/$target"
  mkdir -p "$out"
  # The seeds are named; whatever else the corpus holds is named by its content's hash (16 hex digits).
  seeds="$out/seeds"
  rm -rf "$seeds"
  "${harness[@]}" seeds "$target" "$seeds" >/dev/null
  mkdir -p "$corpus"
  cp "$seeds"/* "$corpus"/

  dictionary=()
  if [ "$target" = config ]; then dictionary=(-x "$work/config.dict"); fi
  left=$((minutes * 60))
  while [ "$left" -gt 0 ]; do
    slice=$((left < 600 ? left : 600))
    echo "== $target: fuzzing for $slice s"
    FABRIC_FUZZ_HISTORY="$out/history" "${fuzz_lock[@]}" afl-fuzz -i "$corpus" -o "$out" -t 5000 -m none -V "$slice" "${dictionary[@]}" \
      -- "${harness[@]}" run "$target" >"$out/afl.log" 2>&1 || { tail -n 30 "$out/afl.log" >&2; exit 1; }
    left=$((left - slice))
  done

  echo "== $target: minimising the corpus (afl-cmin)"
  # afl-cmin refuses folders under /tmp: its folders live beside the findings.
  pool="$out/cmin-pool"
  minimised="$out/cmin-kept"
  rm -rf "$pool" "$minimised"
  mkdir -p "$pool"
  cp "$corpus"/* "$pool"/
  cp "$out"/default/queue/id:* "$pool"/ 2>/dev/null || true
  if "${fuzz_lock[@]}" afl-cmin -i "$pool" -o "$minimised" -t 5000 -m none -- "${harness[@]}" run "$target" >"$out/cmin.log" 2>&1 \
      && [ -n "$(ls -A "$minimised" 2>/dev/null)" ]; then
    find "$corpus" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{16}' -delete
    seed_hashes="$(sha256sum "$seeds"/* | cut -c1-16)"
    for file in "$minimised"/*; do
      hash="$(sha256sum "$file" | cut -c1-16)"
      if ! grep -qx "$hash" <<<"$seed_hashes"; then cp "$file" "$corpus/$hash"; fi
    done
  else
    echo "afl-cmin failed (see $out/cmin.log); the corpus is left as it was" >&2
  fi
  rm -rf "$pool" "$minimised" "$seeds"

  stats="$out/default/fuzzer_stats"
  # Each crash and hang AFL kept (and each script of inputs a crash needed before it), replayed alone: the ones that
  # fail again are listed with their exception, for a regression test and a fix (docs/security.md, "Fuzzing").
  reproduced=0
  mkdir -p "$out/replays"
  for found in "$out"/default/crashes/id:* "$out"/default/hangs/id:* "$out"/history/*; do
    [ -f "$found" ] || continue
    replay="$out/replays/$(basename "$found")"
    if ! timeout 120 "${harness[@]}" replay --alone "$target" "$found" >"$replay" 2>&1; then
      reproduced=$((reproduced + 1))
      echo "   found $found: $(grep -m1 -A1 '^FAIL' "$replay" | tail -n 1)"
    fi
  done
  summary+=("$(printf '%-12s executions %s, paths %s, edges %s of %s, crashes %s, hangs %s (failing alone again: %s), corpus kept %s files' \
    "$target" "$(stat execs_done "$stats")" "$(stat corpus_count "$stats")" "$(stat edges_found "$stats")" "$(stat total_edges "$stats")" \
    "$(stat saved_crashes "$stats")" "$(stat saved_hangs "$stats")" "$reproduced" "$(ls "$corpus" | wc -l)")")
done

echo "== fuzzing: $minutes min per target"
printf '%s\n' "${summary[@]}"
