package bench

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkMaxMemory reconstructs N³ voxels (N = CTRECON_BENCH_MEMORY_N,
// default 256; the size is 1024: 4 GiB of float32) from 720·N/1024
// views of N x 3N/4 (720 of 1024x768 at N = 1024) of a simulated cylinder,
// with `ctrecon recon` as a child process, twice: with --max-memory (1 GiB
// scaled by (N/1024)³, at least 96 MiB; CTRECON_BENCH_MEMORY_BUDGET
// overrides it) and in one piece. It reports each run's seconds and peak
// RSS (the child's getrusage ru_maxrss) and the ratios of wall and CPU
// time (the CPU time's is the one to trust on a shared machine), and checks that
// both wrote the same volume byte for byte. Each run's figures are printed
// to stderr as soon as it ends, and the child's VmHWM every 30 s while it
// runs, so that a run cut short still leaves them in the log. The
// projections are kept in the user's cache folder between runs.
func BenchmarkMaxMemory(b *testing.B) {
	n := 256
	if s := os.Getenv("CTRECON_BENCH_MEMORY_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 16 {
			b.Fatalf("CTRECON_BENCH_MEMORY_N=%q: want a size of at least 16", s)
		}
	}
	budget := fmt.Sprintf("%dMiB", max(96, int(math.Round(1024*math.Pow(float64(n)/1024, 3)))))
	if s := os.Getenv("CTRECON_BENCH_MEMORY_BUDGET"); s != "" {
		budget = s
	}
	bin := buildCtrecon(b)
	scan := simulatedCylinder(b, bin, n)
	out := b.TempDir()
	dim := fmt.Sprintf("--dim=%d,%d,%d", n, n, n)
	for b.Loop() {
		slabs := runChild(b, "slabs", bin, "recon", "-i", scan, "-o", filepath.Join(out, "slabs.mha"), dim, "--max-memory", budget)
		whole := runChild(b, "whole", bin, "recon", "-i", scan, "-o", filepath.Join(out, "whole.mha"), dim)
		b.ReportMetric(slabs.seconds, "s_slabs")
		b.ReportMetric(whole.seconds, "s_whole")
		b.ReportMetric(slabs.seconds/whole.seconds, "time_ratio")
		b.ReportMetric(slabs.cpuSeconds/whole.cpuSeconds, "cpu_ratio")
		b.ReportMetric(slabs.rssMiB, "peakRSS_MiB_slabs")
		b.ReportMetric(whole.rssMiB, "peakRSS_MiB_whole")
		fmt.Fprintf(os.Stderr, "N=%d budget %s: slabs/whole time %.3f, CPU time %.3f\n", n, budget, slabs.seconds/whole.seconds, slabs.cpuSeconds/whole.cpuSeconds)
		if !sameFile(b, filepath.Join(out, "slabs.mha"), filepath.Join(out, "whole.mha")) {
			b.Error("the volume reconstructed in slabs differs from the one in one piece")
		}
		os.Remove(filepath.Join(out, "slabs.mha"))
		os.Remove(filepath.Join(out, "whole.mha"))
	}
}

// childRun is one child process's wall time, CPU time (user and system)
// and peak resident set size.
type childRun struct{ seconds, cpuSeconds, rssMiB float64 }

// runChild runs bin with args, printing its VmHWM every 30 s and its
// figures at the end to stderr, and fails b if it fails.
func runChild(b *testing.B, name, bin string, args ...string) childRun {
	b.Helper()
	var log bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-tick.C:
			fmt.Fprintf(os.Stderr, "%s after %.0f s: %s\n", name, time.Since(start).Seconds(), vmHWM(cmd.Process.Pid))
		}
	}
	secs := time.Since(start).Seconds()
	if err != nil {
		b.Fatalf("%s: %v\n%s", cmd, err, lastLines(log.String(), 20))
	}
	rss := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024 // KiB on Linux
	cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	fmt.Fprintf(os.Stderr, "%s: %.1f s, %.1f CPU s, peak RSS %.0f MiB: %s\n%s\n", name, secs, cpu, rss, cmd, lastLines(log.String(), 1))
	return childRun{secs, cpu, rss}
}

var hwm = regexp.MustCompile(`VmHWM:\s+\d+ kB`)

// vmHWM returns the VmHWM line of process pid's status.
func vmHWM(pid int) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	return hwm.FindString(string(data))
}

func lastLines(s string, n int) string {
	lines := bytes.Split(bytes.TrimSpace([]byte(s)), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-n):], []byte("\n")))
}

// buildCtrecon builds the command into a temporary folder.
func buildCtrecon(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "ctrecon")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ctrecon/ctrecon/cmd/ctrecon").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// simulatedCylinder returns a plastimatch folder of 720·n/1024 views of
// n x 3n/4 (pitch 512/n mm) of the uniform cylinder, made once in the
// user's cache folder.
func simulatedCylinder(b *testing.B, bin string, n int) string {
	b.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		b.Fatal(err)
	}
	views, cols, rows := max(8, 720*n/1024), n, 3*n/4
	dir := filepath.Join(cache, "ctrecon", fmt.Sprintf("bench-cylinder-%dx%dx%d", views, cols, rows))
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	out, err := exec.Command(bin, "phantom", "--phantom", "cylinder", "-o", dir, "--views", strconv.Itoa(views),
		"--det", fmt.Sprintf("%dx%d", cols, rows), "--pitch", strconv.FormatFloat(512/float64(n), 'g', -1, 64)).CombinedOutput()
	if err != nil {
		b.Fatalf("simulating the scan: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// sameFile compares two files byte for byte, a MiB at a time.
func sameFile(b *testing.B, p, q string) bool {
	b.Helper()
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	g, err := os.Open(q)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	x, y := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		n, errF := io.ReadFull(f, x)
		m, errG := io.ReadFull(g, y)
		if n != m || !bytes.Equal(x[:n], y[:m]) {
			return false
		}
		if errF != nil || errG != nil { // both ended (n == m), or failed
			return (errF == io.EOF || errF == io.ErrUnexpectedEOF) && (errG == io.EOF || errG == io.ErrUnexpectedEOF)
		}
	}
}
