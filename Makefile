# ctrecon: `make run` runs the demo, `make test` runs the tests. Both install
# what they need (Go modules through the module proxy, Debian packages with
# apt-get when run as root).

GO      ?= go
BIN     := bin/ctrecon
# x86-64-v3 (AVX2, FMA) makes the CPU back-projector about 15 % faster; use it
# where the processor has it.
GOAMD64 ?= $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && grep -qw bmi2 /proc/cpuinfo && echo v3 || echo v1)
export GOAMD64

DEBS := plastimatch dicom3tools dcmtk dcm2niix orthanc orthanc-dicomweb python3-nibabel python3-hnswlib python3-faiss nodejs chromium

# DIGITS is scikit-learn's handwritten digits (1,797 vectors of 64 with labels), the index
# benchmarks' small data set; bench/index_test.go reads it from the user's cache folder.
DIGITS := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ctrecon/digits.csv.gz

.PHONY: all build run demo test bench lint deps deps-cuda deps-data deps-duckdb kernels clean fuzz fuzz-short race

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ctrecon

# run streams a simulated spectral scan through the whole system (embedded
# NATS, a worker, DICOM, features, search) and prints where it all went.
run: build
	rm -rf out/serve
	$(BIN) serve --demo --data out/serve --nats-port -1 --http 127.0.0.1:0

# demo reconstructs an exact Shepp-Logan scan and prints accuracy and speed.
demo: build
	rm -rf out/demo
	$(BIN) demo -o out/demo

# deps installs the peer tools the tests and benchmarks compare against (hnswlib and faiss
# for the indexes, chromium for the search page), ptxas, and the digits data set.
deps: deps-cuda deps-data
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
		else echo "missing Debian packages:$$missing (tests that need them will skip)"; fi; \
	fi
	@$(MAKE) --no-print-directory deps-duckdb

# deps-duckdb installs DuckDB's Node.js client, whose binary ships inside the
# npm package, into tools/duckdb (git-ignored): the Parquet test of
# features/records reads our files with it. npm is looked for as a command,
# not a package: NodeSource's nodejs bundles it and conflicts with Debian's.
deps-duckdb:
	@test -f tools/duckdb/node_modules/@duckdb/node-api/package.json || { \
		command -v npm >/dev/null || [ "$$(id -u)" != 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm; \
		if command -v npm >/dev/null; then npm install --prefix tools/duckdb --no-audit --no-fund --loglevel=error; \
		else echo "npm missing (Debian packages nodejs npm): the DuckDB test will skip"; fi; }

# deps-cuda installs ptxas (Debian's nvidia-cuda-toolkit, in non-free), with
# which the kernels tests assemble the embedded PTX for Hopper: no GPU needed.
deps-cuda:
	@command -v ptxas >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then \
			. /etc/os-release; \
			grep -rqs "non-free" /etc/apt/sources.list /etc/apt/sources.list.d/ || \
				printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
					"$$VERSION_CODENAME" >/etc/apt/sources.list.d/ctrecon-non-free.sources; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nvidia-cuda-toolkit; \
		else echo "ptxas missing (nvidia-cuda-toolkit, Debian non-free): the PTX assembly check will skip"; fi; }

# deps-data takes digits.csv.gz out of Debian's python3-sklearn package without installing it.
deps-data:
	@test -s $(DIGITS) || { tmp=$$(mktemp -d) && mkdir -p $(dir $(DIGITS)) && \
		(cd $$tmp && apt-get download -q python3-sklearn >/dev/null 2>&1 && dpkg -x python3-sklearn_*.deb x) && \
		cp $$tmp/x/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz $(DIGITS); \
		status=$$?; rm -rf $$tmp; \
		[ $$status = 0 ] || echo "could not extract digits.csv.gz from python3-sklearn (run apt-get update?): BenchmarkIndexDigits will skip"; }

lint:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" && exit 1)
	$(GO) vet ./...

test: deps lint
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) fuzz-short

# FUZZ lists every fuzz target as package:Target: the parsers of outside
# input. Their corpora (testdata/fuzz/<Target>) run with every `go test`.
FUZZ := ./metaimage:FuzzDecode ./metaimage:FuzzDecodeLabels ./nifti:FuzzDecodeLabels ./sinogram:FuzzReadManifest ./sinogram:FuzzDecodeFrame \
	./sinogram:FuzzPreprocessFrames ./sinogram:FuzzReadPlastimatch ./recon:FuzzParseJob \
	./pacs:FuzzSortAnswer ./dicomio:FuzzReadSliceHU
FUZZTIME ?= 2m

# fuzz runs each target for FUZZTIME (2 minutes each by default); a crash
# stops it and leaves the input in testdata/fuzz/<Target>/ to keep as a
# regression test.
fuzz:
	@for t in $(FUZZ); do \
		echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) $${t%%:*} || exit 1; \
	done

# fuzz-short is the few seconds of each target that `make test` runs: a
# count of inputs, not a duration, since a 3 s budget ran out before the
# baseline coverage on a loaded machine ("context deadline exceeded").
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=2000x

# race runs the packages whose goroutines share state (the bus, the search
# service and its NATS shards, the HTTP service, PACS uploads, the GPU
# lifecycle, and the worker's job handling) under the race detector. It
# needs cgo and a C compiler (gcc), which nothing else does; some 10
# minutes on two cores.
RACE_RECON := Worker|Streamed|Cluster|ServerRestart|Cancel|SplitJob|Claim|ScanWait|FailedJobStops|WriteAtomicConcurrent|PACSOutage|RetriesTransient|CorruptFrame
race: deps
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 40m ./bus ./search ./service ./pacs ./kernels ./features/records
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 40m -run '$(RACE_RECON)' ./recon

# bench makes the labelled simulated scans of bench/scanset on its first run
# (some 10 minutes of CPU) and keeps them in the user's cache folder.
bench: build deps
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./bench/

kernels:
	$(MAKE) -C kernels

clean:
	rm -rf bin out
