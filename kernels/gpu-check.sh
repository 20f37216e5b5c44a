#!/usr/bin/env bash
# gpu-check.sh runs, in one call on a GPU machine, every check that needs a
# GPU, with CTRECON_REQUIRE_GPU=1 so that GPU tests fail instead of
# skipping:
#   - the kernels tests: parity with the CPU engine on fresh random inputs
#     and geometries (1, 2, 4 and 5 bins, forced slabs, random launch
#     shapes, NaN-poisoned volumes) and RTK's Shepp-Logan thresholds;
#   - the GPU tests of recon and cmd/ctrecon: `ctrecon recon --device cuda`
#     on a spectral scan and on a plastimatch folder, and a worker with
#     --device auto choosing the GPU, against the CPU's DICOM within the
#     texture unit's interpolation error in the series' noise;
#   - the benchmarks: back-projection and whole-FDK GUPS and seconds for
#     RabbitCT (512³), 1024³ and a 4-bin 512³ job, and the CPU engine's
#     RabbitCT FDK on the same machine for the ratio;
#   - with `tune`, BenchmarkCUDATune's sweep of launch shapes instead.
# Logs go to $OUT when it is set, else to kernels/.gpucheck/logs.
#
# GPU machines have no Go: build the test binaries where Go is installed,
#   kernels/gpu-check.sh build
# which writes them, compressed, to kernels/.gpucheck/ (ignored by git:
# carry it), then
# run `kernels/gpu-check.sh [tune]` on the GPU machine.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=kernels/.gpucheck
pkgs=(kernels bench recon cmd/ctrecon)

build() {
	mkdir -p "$bin"
	CGO_ENABLED=0 go build ./... || exit 1
	for p in "${pkgs[@]}"; do
		CGO_ENABLED=0 go test -c -ldflags="-s -w" -o "$bin/$(basename "$p").test" "./$p" || exit 1
		# Compressed, the four fit the device tool's 64 MiB transfer.
		gzip -f "$bin/$(basename "$p").test" || exit 1
	done
}

case "${1:-}" in
build)
	build
	exit
	;;
esac
if command -v go >/dev/null; then
	build
fi
for p in "${pkgs[@]}"; do
	t=$bin/$(basename "$p").test
	[ -f "$t.gz" ] && gunzip -f "$t.gz" && chmod +x "$t"
	if [ ! -x "$t" ]; then
		echo "gpu-check: no $bin/$(basename "$p").test: run 'kernels/gpu-check.sh build' where Go is installed" >&2
		exit 2
	fi
done

out=${OUT:-$bin/logs}
mkdir -p "$out"
{ nvidia-smi || echo "nvidia-smi failed"; } >"$out/nvidia-smi.txt" 2>&1
export CTRECON_REQUIRE_GPU=1
status=0
# run PKG LOG ARGS... runs PKG's test binary in the package's folder, as go
# test does.
run() {
	local pkg=$1 log=$2
	shift 2
	(cd "$pkg" && "$OLDPWD/$bin/$(basename "$pkg").test" "$@") >"$out/$log" 2>&1 || status=1
	grep -E '^(--- FAIL|FAIL|ok|PASS|panic)|GUPS|relative L2|mean \|error\||HU' "$out/$log" | head -60
}
if [ "${1:-}" = tune ]; then
	run bench tune.log -test.run='^$' -test.bench='CUDATune' -test.benchtime=1x -test.timeout=8m
else
	run kernels kernels.log -test.v -test.count=1 -test.timeout=5m
	run recon recon.log -test.v -test.count=1 -test.run='GPU|CUDA' -test.timeout=5m
	run cmd/ctrecon ctrecon.log -test.v -test.count=1 -test.run='GPU|CUDA' -test.timeout=5m
	run bench bench.log -test.run='^$' -test.bench='CUDA(Backproject|FDK)|^BenchmarkFDK$/RabbitCT' -test.benchtime=1x -test.timeout=8m
fi
echo "gpu-check: logs in $out; $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status
