#!/usr/bin/env bash
# gpu-check.sh runs, in one call on a GPU machine, the checks that need a
# GPU: the kernels tests with CTRECON_REQUIRE_GPU=1 (so that they fail
# instead of skipping when the GPU is unusable), then the CUDA benchmarks.
# Logs go to $OUT when it is set, else to kernels/.gpucheck/logs.
#
# Where Go is installed it builds and tests from source. GPU machines
# without Go run test binaries built beforehand on a machine with Go by
#   kernels/gpu-check.sh build
# which writes them to kernels/.gpucheck/ (ignored by git: carry it).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=kernels/.gpucheck

build() {
	mkdir -p "$bin"
	CGO_ENABLED=0 go build ./...
	go vet ./kernels
	CGO_ENABLED=0 go test -c -o "$bin/kernels.test" ./kernels
	CGO_ENABLED=0 go test -c -o "$bin/bench.test" ./bench
}

if [ "${1:-}" = build ]; then
	build
	exit
fi
if command -v go >/dev/null; then
	build
elif [ ! -x "$bin/kernels.test" ] || [ ! -x "$bin/bench.test" ]; then
	echo "gpu-check: no Go here and no binaries in $bin: run 'kernels/gpu-check.sh build' where Go is installed" >&2
	exit 2
fi

out=${OUT:-$bin/logs}
mkdir -p "$out"
{ nvidia-smi || echo "nvidia-smi failed"; } >"$out/nvidia-smi.txt" 2>&1
export CTRECON_REQUIRE_GPU=1
status=0
# Test binaries run in their package's folder, as go test runs them.
(cd kernels && ./.gpucheck/kernels.test -test.v -test.count=1 -test.timeout=20m) 2>&1 |
	tee "$out/kernels-test.log" || status=1
(cd bench && ../$bin/bench.test -test.run='^$' -test.bench=CUDA -test.benchtime=1x -test.timeout=40m) 2>&1 |
	tee "$out/bench-cuda.log" || status=1
echo "gpu-check: logs in $out; $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status
