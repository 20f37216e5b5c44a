package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// parseFlags parses args into fs with flags and positional arguments in
// any order, as the README writes them (submit JOB.json --wait): Go's flag
// package stops at the first positional argument, and every flag after it
// was taken for one more positional. "--" ends the flags. More than max
// positional arguments is an error naming them; fs.Args() returns the
// others. A flag the flag package refuses, or one of a single value given
// twice (refuseRepeats), is a usageError, one line that names it; the
// usage is printed only for -h (flag.ErrHelp).
func parseFlags(fs *flag.FlagSet, args []string, max int) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(out)
	var positional []string
	all := args
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(out)
			printUsage(fs)
			return err
		} else if err != nil {
			return usageError{fs.Name(), err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if end := len(args) - len(rest) - 1; end >= 0 && args[end] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
	if err := refuseRepeats(fs, all); err != nil {
		return usageError{fs.Name(), err}
	}
	switch {
	case len(positional) > max && max == 0:
		return fmt.Errorf("unexpected argument %q: ctrecon %s takes flags only", positional[0], fs.Name())
	case len(positional) > max:
		return fmt.Errorf("unexpected argument %q after %q", positional[max], positional[max-1])
	}
	return fs.Parse(append([]string{"--"}, positional...)) // fs.Args() returns them
}

// printUsage prints fs's usage as the flag package does for -h.
func printUsage(fs *flag.FlagSet) {
	if fs.Usage != nil {
		fs.Usage()
		return
	}
	fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
	fs.PrintDefaults()
}

// usageError is a command line the flag package refused: exit status 2.
type usageError struct {
	command string // the flag set's name: "recon", "index bench"
	err     error
}

func (e usageError) Error() string {
	return fmt.Sprintf("%v (ctrecon %s -h lists the flags)", e.err, e.command)
}
func (e usageError) Unwrap() error { return e.err }

// repeatable is a flag value that collects every time the flag is given
// (refuseRepeats lets it repeat).
type repeatable interface{ Repeatable() }

// refuseRepeats returns an error naming the first flag of fs that args
// give twice, but for those whose value is repeatable: a flag of one value
// given twice would keep the last silently. It reads args as fs.Parse
// does (a flag that is not boolean takes the next argument unless it has
// "=VALUE"), up to "--"; call it after fs.Parse has accepted them.
func refuseRepeats(fs *flag.FlagSet, args []string) error {
	seen := map[string]string{}
	for i := 0; i < len(args) && args[i] != "--"; i++ {
		if !strings.HasPrefix(args[i], "-") {
			continue // positional
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) && i+1 < len(args) {
			i++
			value = args[i]
		}
		if _, ok := f.Value.(repeatable); ok {
			continue
		}
		switch first, twice := seen[name]; {
		case twice && first == "" && value == "": // a boolean switch
			return fmt.Errorf("%s is given twice", dashed(name))
		case twice:
			return fmt.Errorf("%s is given twice (%q, then %q): it takes one value", dashed(name), first, value)
		}
		seen[name] = value
	}
	return nil
}

// refuseGiven fails, naming the flag and why, when one of names was given
// on the command line: a flag the command, as invoked, does not use.
func refuseGiven(fs *flag.FlagSet, why string, names ...string) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err == nil && slices.Contains(names, f.Name) {
			err = fmt.Errorf("%s: %s", dashed(f.Name), why)
		}
	})
	return err
}

// floatList parses "a,b,c" (or a single value repeated) into n floats.
func floatList(s string, n int) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) == 1 {
		parts = slicesRepeat(parts[0], n)
	}
	if len(parts) != n {
		return nil, fmt.Errorf("%q: want %d comma-separated numbers", s, n)
	}
	out := make([]float64, n)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %q is not a number", s, p)
		}
		out[i] = v
	}
	return out, nil
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// dims3 parses "NX,NY,NZ" or "N" into positive integers; "0" is none (to
// be chosen from the field of view).
func dims3(s string) ([3]int, error) {
	if s == "0" {
		return [3]int{}, nil
	}
	f, err := floatList(s, 3)
	if err != nil {
		return [3]int{}, err
	}
	var d [3]int
	for i, v := range f {
		if v < 1 || v != float64(int(v)) {
			return d, fmt.Errorf("%q: dimensions must be positive whole numbers", s)
		}
		d[i] = int(v)
	}
	return d, nil
}

// detSize parses "COLSxROWS".
func detSize(s string) (cols, rows int, err error) {
	if _, err := fmt.Sscanf(s, "%dx%d", &cols, &rows); err != nil || cols < 1 || rows < 1 {
		return 0, 0, fmt.Errorf("%q: want COLSxROWS, e.g. 512x384", s)
	}
	return cols, rows, nil
}

// intList parses "a,b,c" into non-negative integers; "" is an empty list.
func intList(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%q: want comma-separated bin indices", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// checkWorkers refuses --workers under 1 (before, serve ran one all the
// same and worker none, exiting at once, both without a word; trial 29).
func checkWorkers(n int) error {
	if n < 1 {
		return fmt.Errorf("--workers %d: must be at least 1", n)
	}
	return nil
}
