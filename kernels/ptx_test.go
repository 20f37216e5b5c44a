package kernels

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// Every kernel the Go side launches is defined in the embedded PTX.
func TestPTXDefinesTheKernels(t *testing.T) {
	want := map[string][]string{}
	for _, v := range voxelsPerThreadChoices {
		for b := 1; b <= maxBinsPerPass; b++ {
			want[backprojectPTX] = append(want[backprojectPTX], backprojectKernel(b, v))
		}
	}
	for _, tile := range filterTileChoices {
		for _, rows := range filterRowsChoices {
			want[filterPTX] = append(want[filterPTX], filterKernel(tile, rows))
		}
	}
	for file, names := range want {
		ptx, err := ptxFiles.ReadFile(file)
		if err != nil {
			t.Fatalf("%s is not embedded: %v", file, err)
		}
		got := entries(ptx)
		for _, n := range names {
			if !slices.Contains(got, n) {
				t.Errorf("%s defines %v, not %s", file, got, n)
			}
		}
	}
	ptx, _ := ptxFiles.ReadFile(backprojectPTX)
	decl := regexp.MustCompile(`\.const \.align \d+ \.b8 ` + matrixSymbol + `\[(\d+)\]`).FindSubmatch(ptx)
	if decl == nil || string(decl[1]) != strconv.Itoa(matrixSlots*maxProjPerLaunch*3*16) {
		t.Errorf("%s: %s declared as %q, want %d bytes", backprojectPTX, matrixSymbol, decl, matrixSlots*maxProjPerLaunch*3*16)
	}
}

func TestEntriesParsesPTX(t *testing.T) {
	ptx := []byte(".version 7.8\n.visible .entry alpha(\n\t.param .u64 a\n)\n.entry beta_2(\n// .entry commented\n.weak .entry $gamma(\n")
	if got := entries(ptx); !slices.Equal(got, []string{"alpha", "beta_2", "$gamma"}) {
		t.Errorf("entries = %v", got)
	}
}

// ptx.sha256 holds the hash of each .cu as it was when `make kernels`
// built the PTX: a .cu edited since fails here until the PTX is rebuilt.
func TestPTXIsUpToDate(t *testing.T) {
	stamp := readStamp(t)
	sources, err := filepath.Glob("*.cu")
	if err != nil || len(sources) == 0 {
		t.Fatalf("no .cu files: %v", err)
	}
	for _, src := range sources {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		switch got, ok := stamp[src]; {
		case !ok:
			t.Errorf("%s has no PTX stamp: run `make kernels`", src)
		case got != hex.EncodeToString(sum[:]):
			t.Errorf("%s changed since its PTX was built: run `make kernels` (needs nvcc) and commit the PTX and ptx.sha256", src)
		}
		ptx := strings.TrimSuffix(src, ".cu") + ".ptx"
		if _, err := ptxFiles.ReadFile(ptx); err != nil {
			t.Errorf("%s is not embedded: %v", ptx, err)
		}
		delete(stamp, src)
	}
	for src := range stamp {
		t.Errorf("ptx.sha256 names %s, which does not exist", src)
	}
}

// readStamp parses ptx.sha256 (sha256sum's format: hash, two spaces, name).
func readStamp(t *testing.T) map[string]string {
	f, err := os.Open("ptx.sha256")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		hash, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("ptx.sha256: malformed line %q", sc.Text())
		}
		out[name] = hash
	}
	return out
}

// The Go side's limits agree with the #defines in the kernels.
func TestLimitsMatchKernels(t *testing.T) {
	want := map[string]map[string]int{
		"backproject.cu": {"MAX_PROJ_PER_LAUNCH": maxProjPerLaunch, "MATRIX_SLOTS": matrixSlots,
			"MAX_BINS": maxBinsPerPass, "MAX_THREADS": maxThreads},
	}
	def := regexp.MustCompile(`(?m)^#define\s+(\w+)\s+(\d+)`)
	for file, consts := range want {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, m := range def.FindAllSubmatch(src, -1) {
			got[string(m[1])], _ = strconv.Atoi(string(m[2]))
		}
		for name, v := range consts {
			if g, ok := got[name]; !ok || g != v {
				t.Errorf("%s: #define %s = %d (found %v), Go uses %d", file, name, g, ok, v)
			}
		}
	}
}

// ptxas, where the CUDA toolkit is installed, assembles the PTX for the
// H100 (sm_90) without register spills: spills would put the per-thread
// voxel sums in local memory.
func TestPTXAssemblesForHopper(t *testing.T) {
	ptxas, err := exec.LookPath("ptxas")
	if err != nil {
		if os.Getenv("CTRECON_REQUIRE_PEERS") == "1" {
			t.Fatal("ptxas not installed and CTRECON_REQUIRE_PEERS=1: run make deps (nvidia-cuda-toolkit)")
		}
		t.Skip("ptxas not installed (make deps installs nvidia-cuda-toolkit)")
	}
	for _, file := range []string{backprojectPTX, filterPTX} {
		out, err := exec.Command(ptxas, "-arch=sm_90", "-v", "-o", os.DevNull, file).CombinedOutput()
		if err != nil {
			t.Fatalf("ptxas %s: %v\n%s", file, err, out)
		}
		if regexp.MustCompile(`[1-9]\d* bytes spill`).Match(out) {
			t.Errorf("%s spills registers on sm_90:\n%s", file, out)
		}
	}
}

// params returns the types of a PTX entry's parameters (u64, u32, f32...).
func params(t *testing.T, file, entry string) []string {
	ptx, err := ptxFiles.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`\.entry\s+` + regexp.QuoteMeta(entry) + `\(([^)]*)\)`).FindSubmatch(ptx)
	if m == nil {
		t.Fatalf("%s: no entry %s", file, entry)
	}
	var out []string
	for _, p := range regexp.MustCompile(`\.param\s+\.(\w+)`).FindAllSubmatch(m[1], -1) {
		out = append(out, string(p[1]))
	}
	return out
}

// ptxType is the PTX parameter type a Go kernel argument must meet.
func ptxType(v any) string {
	switch v.(type) {
	case int32, uint32:
		return "u32"
	case float32:
		return "f32"
	case int64, devPtr, texObject:
		return "u64"
	}
	return "unsupported"
}

// The argument lists the accumulator launches with match the kernels'
// signatures in the PTX, parameter by parameter: a kernel signature edited
// without its launch fails here rather than on the GPU.
func TestLaunchArgumentsMatchPTX(t *testing.T) {
	a := &accumulator{bins: 5, inCols: 10, det: fdk.Detector{Cols: 12, Rows: 4},
		grid: fdk.CenteredGrid([3]int{4, 4, 4}, [3]float64{1, 1, 1}, fdk.Vec3{}),
		plan: plan{slabs: []slab{{nz: 4}}, band: 4}, pre: &Prefilter{}}
	check := func(file, entry string, args []any) {
		want := params(t, file, entry)
		if len(args) != len(want) {
			t.Fatalf("%s: %d arguments, PTX has %d parameters %v", entry, len(args), len(want), want)
		}
		for i, v := range args {
			if got := ptxType(v); got != want[i] && !(got == "u32" && want[i] == "s32") && !(got == "u64" && want[i] == "s64") {
				t.Errorf("%s parameter %d: Go passes %T (%s), PTX declares .%s", entry, i, v, got, want[i])
			}
		}
	}
	for _, v := range voxelsPerThreadChoices {
		for b := 1; b <= maxBinsPerPass; b++ {
			check(backprojectPTX, backprojectKernel(b, v), a.backprojectArgs(&slot{}, 1, 0, true))
		}
	}
	for _, tile := range filterTileChoices {
		for _, rows := range filterRowsChoices {
			check(filterPTX, filterKernel(tile, rows), a.filterArgs(3))
		}
	}
}
