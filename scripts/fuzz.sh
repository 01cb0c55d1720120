#!/usr/bin/env bash
# Coverage-guided fuzzing of the packet path, the configuration loader and the cluster serializer: AFL++ drives the
# harness in tests/Fabric.Fuzz through SharpFuzz (docs/security.md, "Fuzzing", says what each target checks).
#
#   scripts/fuzz.sh MINUTES [TARGET]     MINUTES of fuzzing per target (all targets unless one is named), in slices
#                                        of at most 10 minutes; a later run resumes where the last one stopped.
#
# Installs afl++ (Debian) and the SharpFuzz tool (dotnet tool restore) when missing, builds the harness and
# instruments the assemblies under test (in artifacts/fuzz/bin), seeds each target's corpus from the wire fixtures
# and shipped documents when it has none, fuzzes, then minimises queue and corpus with afl-cmin back into
# tests/Fabric.Fuzz/corpus/TARGET (kept in the repository). Prints per target: executions, paths, edges, crashes.
# Crashes stay in artifacts/fuzz/findings/TARGET; each one that reproduces on its own is listed with its exception.
# On a machine with the `cpulock` command, every heavy step runs under it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

all_targets=(packet-path config serializer)
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ]; then
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

if ! command -v afl-fuzz >/dev/null 2>&1; then
  echo "== installing afl++"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++ >/dev/null
fi

work="$root/artifacts/fuzz"
bin="$work/bin"
harness=(dotnet "$bin/Fabric.Fuzz.dll")

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

stat() { awk -F' *: *' -v key="$1" '$1 == key { print $2 }' "$2" 2>/dev/null; }

summary=()
for target in "${targets[@]}"; do
  corpus="$root/tests/Fabric.Fuzz/corpus/$target"
  out="$work/findings/$target"
  mkdir -p "$out"
  if [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
    echo "== $target: seeding the corpus"
    "${harness[@]}" seeds "$target" "$corpus"
  fi

  dictionary=()
  if [ "$target" = config ]; then dictionary=(-x "$work/config.dict"); fi
  left=$((minutes * 60))
  while [ "$left" -gt 0 ]; do
    slice=$((left < 600 ? left : 600))
    echo "== $target: fuzzing for $slice s"
    FABRIC_FUZZ_HISTORY="$out/history" "${lock[@]}" afl-fuzz -i "$corpus" -o "$out" -t 5000 -m none -V "$slice" "${dictionary[@]}" \
      -- "${harness[@]}" run "$target" >"$out/afl.log" 2>&1 || { tail -n 30 "$out/afl.log" >&2; exit 1; }
    left=$((left - slice))
  done

  echo "== $target: minimising the corpus (afl-cmin)"
  pool="$(mktemp -d)"
  minimised="$(mktemp -d)"
  rmdir "$minimised"
  cp "$corpus"/* "$pool"/
  cp "$out"/default/queue/id:* "$pool"/ 2>/dev/null || true
  if "${lock[@]}" afl-cmin -i "$pool" -o "$minimised" -t 5000 -m none -- "${harness[@]}" run "$target" >"$out/cmin.log" 2>&1 \
      && [ -n "$(ls -A "$minimised" 2>/dev/null)" ]; then
    rm -f "$corpus"/*
    for file in "$minimised"/*; do
      cp "$file" "$corpus/$(sha256sum "$file" | cut -c1-16)"
    done
  else
    echo "afl-cmin failed (see $out/cmin.log); the corpus is left as it was" >&2
  fi
  rm -rf "$pool" "$minimised"

  stats="$out/default/fuzzer_stats"
  crashes=("$out"/default/crashes/id:* "$out"/history/*)
  reproduced=0
  for crash in "${crashes[@]}"; do
    [ -f "$crash" ] || continue
    if ! "${harness[@]}" replay --alone "$target" "$crash" >"$crash.replay" 2>&1; then
      reproduced=$((reproduced + 1))
      echo "   crash $crash: $(grep -m1 '^FAIL' -A1 "$crash.replay" | tail -n 1)"
    fi
  done
  summary+=("$(printf '%-12s executions %s, paths %s, edges %s of %s, crashes %s (reproduced alone: %s), hangs %s, corpus kept %s files' \
    "$target" "$(stat execs_done "$stats")" "$(stat corpus_count "$stats")" "$(stat edges_found "$stats")" "$(stat total_edges "$stats")" \
    "$(stat saved_crashes "$stats")" "$reproduced" "$(stat saved_hangs "$stats")" "$(ls "$corpus" | wc -l)")")
done

echo "== fuzzing: $minutes min per target"
printf '%s\n' "${summary[@]}"
