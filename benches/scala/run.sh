#!/usr/bin/env bash
# Compiles (when the sources changed) and runs the Scala baselines on an events TSV.
#
#   benches/scala/run.sh EVENTS.tsv ITERATIONS [WARMUP]
#
# Prints one JSON line per implementation and spec on stdout, everything else on stderr.
# Installs Debian's `scala` (scalac 2.11) when scalac is missing. Environment:
#   SCALA_IMPLS        which baselines, default "seed tuned"
#   SCALA_WARMUP       untimed iterations per spec (default 5; the 3rd argument wins)
#   SCALA_CLASSES_DIR  where classes go (default $CARGO_TARGET_DIR or target/, then scala-classes)
#   SCALA_JAVA_OPTS    extra JVM options
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 EVENTS.tsv ITERATIONS [WARMUP]" >&2
    exit 2
fi
tsv=$1
iterations=$2
warmup=${3:-${SCALA_WARMUP:-5}}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
classes=${SCALA_CLASSES_DIR:-${CARGO_TARGET_DIR:-$root/target}/scala-classes}

if ! command -v scalac >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
    echo "run.sh: installing scala (Debian package)" >&2
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    if ! $sudo apt-get install -y --no-install-recommends scala default-jre-headless >&2; then
        $sudo apt-get update >&2
        $sudo apt-get install -y --no-install-recommends scala default-jre-headless >&2
    fi
fi

# scala-library.jar next to the scalac in use (Debian: /usr/share/scala-2.11/lib).
scalac_home=$(dirname "$(dirname "$(readlink -f "$(command -v scalac)")")")
lib="$scalac_home/lib/scala-library.jar"
if [ ! -f "$lib" ]; then
    lib=$(ls /usr/share/scala*/lib/scala-library.jar 2>/dev/null | head -n1 || true)
fi
if [ ! -f "$lib" ]; then
    echo "run.sh: scala-library.jar not found" >&2
    exit 1
fi

# Recompile only when the sources (or the compiler) change.
stamp=$( (scalac -version 2>&1; cat "$here"/src/*.scala) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$classes/.stamp" 2>/dev/null || true)" != "$stamp" ]; then
    echo "run.sh: compiling the Scala baselines into $classes" >&2
    tmp="$classes.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    scalac -nowarn -d "$tmp" "$here"/src/*.scala >&2
    echo "$stamp" >"$tmp/.stamp"
    rm -rf "$classes"
    mv "$tmp" "$classes"
fi

# Single-threaded evaluation; the throughput collector suits allocation-heavy batch work.
java_opts=(-Xms1g -Xmx4g -Xss16m -XX:+UseParallelGC)
# shellcheck disable=SC2206
extra=(${SCALA_JAVA_OPTS:-})
for impl in ${SCALA_IMPLS:-seed tuned}; do
    case $impl in
        seed) main=spanflow.bench.seed.SeedMain ;;
        tuned) main=spanflow.bench.tuned.TunedMain ;;
        *) echo "run.sh: unknown implementation $impl" >&2; exit 2 ;;
    esac
    java "${java_opts[@]}" "${extra[@]}" -cp "$classes:$lib" "$main" "$tsv" "$iterations" "$warmup"
done
