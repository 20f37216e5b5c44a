package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctrecon/ctrecon/bench/ann"
	"github.com/ctrecon/ctrecon/features/histogram"
	"github.com/ctrecon/ctrecon/index"

	// each index family registers itself
	_ "github.com/ctrecon/ctrecon/index/hnsw"
	_ "github.com/ctrecon/ctrecon/index/ivf"
	_ "github.com/ctrecon/ctrecon/index/lsh"
	_ "github.com/ctrecon/ctrecon/index/slimtree"
	_ "github.com/ctrecon/ctrecon/index/tree"
)

// indexUsage is `ctrecon index`'s one line of usage.
const indexUsage = "ctrecon index bench --vectors FILE --index NAME [flags] (ctrecon index bench -h lists the flags)"

// runIndex runs `ctrecon index SUBCOMMAND`; bench is the only one.
func runIndex(args []string) error { return indexCommand(args, os.Stdout) }

// runIndexBench runs `ctrecon index bench` with args, writing to w.
func runIndexBench(args []string, w io.Writer) error {
	return indexCommand(append([]string{"bench"}, args...), w)
}

// paramFlag collects --param NAME=VALUE[,VALUE...] into values per name.
type paramFlag map[string][]string

func (p paramFlag) String() string { return fmt.Sprint(map[string][]string(p)) }

// Repeatable marks --param as a flag given once per parameter
// (refuseRepeats).
func (p paramFlag) Repeatable() {}

func (p paramFlag) Set(s string) error {
	name, values, ok := strings.Cut(s, "=")
	if !ok || name == "" || values == "" {
		return fmt.Errorf("%q: want NAME=VALUE or NAME=VALUE,VALUE,...", s)
	}
	if _, dup := p[name]; dup {
		return fmt.Errorf("%q: parameter %s is given twice (list its values with commas)", s, name)
	}
	p[name] = strings.Split(values, ",")
	return nil
}

// canonical returns p with its names and values spelled as kind spells
// them (index.Kind.Canonical), refusing a parameter given twice in two
// spellings and a value given twice in one sweep (it would run the same
// setting twice).
func (p paramFlag) canonical(kind index.Kind) (paramFlag, error) {
	out := paramFlag{}
	for _, given := range slices.Sorted(maps.Keys(p)) {
		name, _ := kind.Canonical(given, "")
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--param %s: parameter %s is given twice (list its values with commas)", given, name)
		}
		for _, v := range p[given] {
			_, v = kind.Canonical(name, v)
			if slices.Contains(out[name], v) {
				return nil, fmt.Errorf("--param %s=%s: the value %s is given twice", given, strings.Join(p[given], ","), v)
			}
			out[name] = append(out[name], v)
		}
	}
	return out, nil
}

// indexCommand runs `ctrecon index` with args: the subcommand bench,
// anywhere among its flags as other commands take their arguments, which
// measures an index on vectors from files against exact search and writes
// one result per parameter setting to w.
func indexCommand(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("index bench", flag.ContinueOnError)
	var in ann.Inputs
	fs.StringVar(&in.Vectors, "vectors", "", "vectors to index: .fvecs or .csv, optionally .gz, or .parquet feature records (required)")
	fs.StringVar(&in.Queries, "queries", "", "query vectors (default: hold out 10 % of --vectors)")
	fs.StringVar(&in.Labels, "labels", "", "one label per vector of --vectors, for label precision (with --queries, also --query-labels)")
	fs.StringVar(&in.QueryLabels, "query-labels", "", "one label per vector of --queries, with --labels")
	labelsColumn := fs.String("labels-column", "", "the column of --vectors (and --queries) holding each vector's integer label, not a feature: last, or a number from 1 (-1: the last)")
	fs.Uint64Var(&in.Seed, "seed", 1, "seed of the held-out queries")
	cfg := ann.Config{}
	fs.StringVar(&cfg.Index, "index", "", "index to measure, with the parameters --param sets (required): "+kindsWithParams())
	params := paramFlag{}
	fs.Var(params, "param", "an index parameter, NAME=VALUE or NAME=VALUE,VALUE,... to sweep (repeatable)")
	fs.IntVar(&cfg.K, "k", 10, "neighbours per query")
	metric := fs.String("metric", "", "distance, in any case: "+strings.Join(ann.MetricNames(), ", ")+" (default: dm for metric histograms, else euclidean)")
	fs.DurationVar(&cfg.MinQueryTime, "time", time.Second, "CPU time to repeat the queries for, per setting (0: once)")
	asJSON := fs.Bool("json", false, "print one JSON object per parameter setting")
	peers := fs.Bool("peers", false, "also measure hnswlib and faiss with the same M, efConstruction and ef (--index hnsw)")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "bench":
	case "help":
		fmt.Fprintln(os.Stderr, "usage: "+indexUsage)
		return flag.ErrHelp
	case "":
		return errors.New("want a subcommand: " + indexUsage)
	default:
		return fmt.Errorf("unknown subcommand %q: %s", fs.Arg(0), indexUsage)
	}
	if kind, err := index.KindNamed(cfg.Index); err == nil {
		cfg.Index = kind.Name
		if params, err = params.canonical(kind); err != nil {
			return err
		}
	}
	cfg.Sweep = ann.Sweep(params)
	var err error
	if in.LabelColumn, err = parseLabelsColumn(*labelsColumn); err != nil {
		return err
	}
	switch {
	case cfg.MinQueryTime < 0:
		return fmt.Errorf("--time %s: must not be negative", cfg.MinQueryTime)
	case in.Vectors == "":
		return errors.New("--vectors is required")
	case cfg.Index == "":
		return fmt.Errorf("--index is required (%s)", strings.Join(index.KindNames(), ", "))
	case cfg.K < 1:
		return fmt.Errorf("--k %d: must be at least 1", cfg.K)
	case *peers && cfg.Index != "hnsw":
		return fmt.Errorf("--peers compares HNSW indexes: it needs --index hnsw, not %s", cfg.Index)
	case in.Labels != "" && *labelsColumn != "":
		return fmt.Errorf("--labels %s and --labels-column %s both give the labels: give one", in.Labels, *labelsColumn)
	case in.QueryLabels != "" && *labelsColumn != "":
		return fmt.Errorf("--query-labels %s and --labels-column %s both give the labels: give one", in.QueryLabels, *labelsColumn)
	case in.QueryLabels != "" && in.Queries == "":
		return fmt.Errorf("--query-labels %s labels --queries, which is not given (held-out queries keep their --labels)", in.QueryLabels)
	case in.QueryLabels != "" && in.Labels == "":
		return fmt.Errorf("--query-labels %s needs the labels of --vectors %s too: give --labels", in.QueryLabels, in.Vectors)
	case in.Labels != "" && in.Queries != "" && in.QueryLabels == "":
		return fmt.Errorf("--labels %s labels --vectors %s; the queries of --queries %s need theirs too: give --query-labels", in.Labels, in.Vectors, in.Queries)
	}
	// the index and its parameters, before the files are read: under the
	// metric named, or Euclidean until the vectors' kind is known
	if cfg.Metric, err = index.MetricNamed(*metric); err != nil && *metric != "" && !strings.EqualFold(*metric, histogram.DMIndexMetric.Name()) {
		return usageError{fs.Name(), fmt.Errorf("--metric: unknown metric %q (want %s)", *metric, strings.Join(ann.MetricNames(), ", "))}
	}
	if err := cfg.Check(); err != nil {
		return fmt.Errorf("--index %s: %w", cfg.Index, err)
	}
	if err := openable(map[string]string{"--vectors": in.Vectors, "--queries": in.Queries,
		"--labels": in.Labels, "--query-labels": in.QueryLabels}); err != nil {
		return err
	}
	in.HoldOut, in.Metric = 0.1, *metric
	base, queries, m, err := in.Read()
	if err != nil {
		return err
	}
	cfg.Metric = m
	if err := cfg.Check(); err != nil {
		return fmt.Errorf("--index %s: %w", cfg.Index, err)
	}
	if cfg.K > base.Len() {
		left := filepath.Base(in.Vectors)
		if in.Queries == "" {
			left += " left to index once the queries are held out"
		}
		return fmt.Errorf("--k %d is more than the %s of %s", cfg.K, ann.Count(base.Len(), "vector"), left)
	}
	if err := cfg.CheckSize(base.Len()); err != nil {
		return fmt.Errorf("--index %s, %s: %w", cfg.Index, base.Name, err)
	}
	truth, err := ann.GroundTruth(base, queries, cfg.K, cfg.Metric)
	if err != nil {
		return err
	}
	var results []ann.Result
	if *peers {
		results, err = comparePeers(base, queries, truth, cfg, params)
	} else {
		results, err = ann.Evaluate(base, queries, truth, cfg)
	}
	if err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(w, "%s%s, %s, %s, k %d\n", ann.Count(base.Len(), "vector"), base.Layout(), ann.Count(queries.Len(), "query"), cfg.Metric, cfg.K)
		return ann.WriteTable(w, results)
	}
	enc := json.NewEncoder(w)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

// comparePeers measures ctrecon's HNSW and the peers with one M and
// efConstruction and the ef values of params.
func comparePeers(base, queries *ann.Set, truth *ann.Truth, cfg ann.Config, params paramFlag) ([]ann.Result, error) {
	kind, _ := index.KindNamed("hnsw")
	one := func(name string) (int, error) {
		p, _ := kind.Param(name)
		v := []string{p.Default}
		if given, ok := params[name]; ok {
			v = given
		}
		if len(v) != 1 {
			return 0, fmt.Errorf("--param %s: --peers takes one value", name)
		}
		return strconv.Atoi(v[0])
	}
	c := ann.Comparison{Rounds: 3, RoundTime: cfg.MinQueryTime / 3}
	var err error
	if c.M, err = one("M"); err != nil {
		return nil, err
	}
	if c.EfConstruction, err = one("efConstruction"); err != nil {
		return nil, err
	}
	for _, s := range cfg.Sweep {
		ef, _ := strconv.Atoi(s["ef"])
		if s["ef"] == "" {
			p, _ := kind.Param("ef")
			ef, _ = strconv.Atoi(p.Default)
		}
		c.Ef = append(c.Ef, ef)
	}
	return ann.Compare(context.Background(), base, queries, truth, c)
}

// openable returns an error naming the flag of the first file of files
// (flag: path, "" for none) that cannot be opened, before any is read.
func openable(files map[string]string) error {
	for _, flag := range slices.Sorted(maps.Keys(files)) {
		if files[flag] == "" {
			continue
		}
		f, err := os.Open(files[flag])
		if err != nil {
			return fmt.Errorf("%s %s: %w", flag, files[flag], err)
		}
		f.Close()
	}
	return nil
}

// parseLabelsColumn returns the column --labels-column names as
// ann.Inputs.LabelColumn takes it: 0 for none, -1 for last.
func parseLabelsColumn(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	if s == "last" {
		return -1, nil
	}
	c, err := strconv.Atoi(s)
	if err != nil || c == 0 {
		return 0, fmt.Errorf("--labels-column %s: want last or a column number, from 1 (or -1 for the last)", s)
	}
	return c, nil
}

// kindsWithParams lists the registered indexes, each with its parameters:
// "exact; hnsw (M, efConstruction, ef, seed); ...".
func kindsWithParams() string {
	var list []string
	for _, name := range index.KindNames() {
		kind, _ := index.KindNamed(name)
		var params []string
		for _, p := range kind.Params {
			params = append(params, p.Name)
		}
		if len(params) > 0 {
			name += " (" + strings.Join(params, ", ") + ")"
		}
		list = append(list, name)
	}
	return strings.Join(list, "; ")
}
