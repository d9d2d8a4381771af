#!/usr/bin/env bash
# Installs the Debian 12 packages dsv3 needs (only those missing), then configures and builds.
#
# Usage: scripts/setup.sh [--tests] [--target T]... [preset]
#   preset      release (default), debug, asan or tsan
#   --tests     also what the tests need: GoogleTest, Google Benchmark, node and npm, and the
#               pinned npm packages of the e2e tests (npm ci in tests/e2e/node and tests/e2e/ajv); configures the tests and
#               microbenchmarks too
#   --target T  builds only T (e.g. dsv3, the CLI); default: everything configured
# Apt's output goes to build/setup-apt.log and is shown only when it fails. Set
# DSV3_BUILD_LOG_LINES=1 to see cmake's build lines instead of the one-line progress.
set -euo pipefail
cd "$(dirname "$0")/.."

build_packages=(
  build-essential cmake pkg-config ca-certificates
  libhwy-dev nlohmann-json3-dev libpcre2-dev libcpp-httplib-dev libcli11-dev libopenblas-dev
  libopenmpi-dev openmpi-bin
)
# clang with its runtimes: the fuzz preset (libFuzzer, ASan and UBSan for clang 14).
test_packages=(libgtest-dev libgmock-dev libbenchmark-dev nodejs npm clang libclang-rt-14-dev)

# What one core spends compiling (measured with /usr/bin/time, no compiler cache; see
# docs/standalone.md): the CLI alone (487 s measured at -O3 front end, minus the estimated
# cut of building the front end at -O1), and everything (tests and benchmarks too).
cli_cpu_minutes=7
all_cpu_minutes=14

with_tests=0
targets=()
preset=release
while (($#)); do
  case "$1" in
    --tests) with_tests=1 ;;
    --target)
      (($# >= 2)) || { echo "setup: --target needs a target name" >&2; exit 2; }
      targets+=("$2")
      shift
      ;;
    -h | --help)
      sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*) echo "setup: unknown option $1 (see scripts/setup.sh --help)" >&2; exit 2 ;;
    *) preset="$1" ;;
  esac
  shift
done
case "$preset" in
  release | debug | asan | tsan) ;;
  *) echo "setup: unknown preset '$preset' (expected release, debug, asan or tsan)" >&2; exit 2 ;;
esac

mkdir -p build
apt_log=build/setup-apt.log

# Runs an apt-get command quietly; on failure shows its log and stops.
run_apt() {
  if ! "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" >>"$apt_log" 2>&1; then
    echo "setup: apt-get $1 failed; its output ($apt_log):" >&2
    tail -n 40 "$apt_log" >&2
    exit 1
  fi
}

# Whether package $1 is there: installed by dpkg or, for node and npm, on the PATH (a node
# from elsewhere, e.g. NodeSource's, brings its own npm and conflicts with Debian's package).
have_package() {
  case "$1" in
    nodejs) command -v node >/dev/null && return 0 ;;
    npm) command -v npm >/dev/null && return 0 ;;
  esac
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

install_missing() {
  local missing=()
  for p in "$@"; do
    have_package "$p" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null ||
      { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo_cmd=(sudo)
  fi
  echo "setup: installing ${#missing[@]} Debian packages (${missing[*]}); about a minute or" \
    "two, more with a slow mirror..." >&2
  : >"$apt_log"
  run_apt update -qq
  run_apt install -y -qq --no-install-recommends "${missing[@]}"
}

packages=("${build_packages[@]}")
if ((with_tests)); then packages+=("${test_packages[@]}"); fi
install_missing "${packages[@]}"

if ((with_tests)); then
  # The end-to-end tests' JavaScript clients, exactly as their lock files pin them: the openai
  # client (tests/e2e/node) and the ajv JSON Schema validator (tests/e2e/ajv).
  for dir in tests/e2e/node tests/e2e/ajv; do
    lock=$dir/package-lock.json
    stamp=$dir/node_modules/.dsv3-installed-lock
    if ! cmp -s "$lock" "$stamp"; then
      echo "setup: npm ci of the pinned packages of $dir..." >&2
      npm_log=build/setup-npm.log
      if ! npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >"$npm_log" 2>&1; then
        echo "setup: npm ci in $dir failed; its output ($npm_log):" >&2
        tail -n 40 "$npm_log" >&2
        exit 1
      fi
      cp "$lock" "$stamp"
    fi
  done
fi

# Configure. Without --tests, a build folder configured for the first time leaves the tests
# and microbenchmarks out (no GoogleTest needed); one configured before keeps its settings.
configure=(cmake --preset "$preset")
if ((with_tests)); then
  configure+=(-DDSV3_BUILD_TESTS=ON -DDSV3_BUILD_BENCHMARKS=ON)
elif [ ! -f "build/$preset/CMakeCache.txt" ]; then
  configure+=(-DDSV3_BUILD_TESTS=OFF -DDSV3_BUILD_BENCHMARKS=OFF)
fi
configure_log=build/setup-configure.log
if ! "${configure[@]}" >"$configure_log" 2>&1; then
  echo "setup: cmake configure failed; its output ($configure_log):" >&2
  cat "$configure_log" >&2
  exit 1
fi

jobs="$(nproc)"
what="everything (dsv3, tests, benchmarks)"
cpu_minutes=$all_cpu_minutes
if ((${#targets[@]})); then
  what="${targets[*]}"
  if [ "${targets[*]}" = dsv3 ]; then cpu_minutes=$cli_cpu_minutes; fi
fi
echo "setup: building $what in build/$preset (about $(((cpu_minutes + jobs - 1) / jobs)) min" \
  "from scratch on $jobs cores; seconds when already built)..." >&2

build=(cmake --build --preset "$preset" -j "$jobs")
for t in "${targets[@]}"; do build+=(--target "$t"); done
if [ "${DSV3_BUILD_LOG_LINES:-0}" = 1 ]; then
  "${build[@]}"
  exit
fi

# cmake's "[ 42%] Building CXX object ..." lines condensed into one line that updates in place
# (on a terminal; otherwise one line per 10%). The whole output is kept and shown on failure.
build_log="build/setup-build-$preset.log"
show_progress() {
  local tty=0 last=-10 line pct
  [ -t 2 ] && tty=1
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$build_log"
    # Only lines that do work count ("Built target" lines of up-to-date targets stay quiet).
    [[ "$line" =~ ^\[\ *([0-9]+)%\]\ (Building|Linking) ]] || continue
    pct=${BASH_REMATCH[1]}
    if ((tty)); then
      local file="${line##* }"
      printf '\r\033[K  %3d%%  %s' "$pct" "${file##*/}" >&2
    elif ((pct >= last + 10)); then
      echo "  $pct%" >&2
      last=$pct
    fi
  done
  if ((tty)); then printf '\r\033[K' >&2; fi
}
: >"$build_log"
if ! "${build[@]}" 2>&1 | show_progress; then
  echo "setup: the build failed; the end of its output ($build_log):" >&2
  grep -v '^\[ *[0-9]*%\]' "$build_log" | tail -n 60 >&2
  exit 1
fi
echo "setup: build done" >&2
