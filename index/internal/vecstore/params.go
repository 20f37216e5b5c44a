package vecstore

import (
	"fmt"
	"math"
	"strconv"

	"github.com/ctrecon/ctrecon/index"
)

// Int returns the integer parameter name of params (as index.Kind.New gets
// them), or an error naming it when it is not an integer from lo to hi.
func Int(params map[string]string, name string, lo, hi int) (int, error) {
	s := params[name]
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("parameter %s is %q, want an integer from %d to %d", name, s, lo, hi)
	}
	return v, nil
}

// IntParam is an integer parameter for Ints: its name, where its value
// goes, and the range it must be in.
type IntParam struct {
	Name   string
	To     *int
	Lo, Hi int
}

// Ints reads the integer parameters ps of params, then, unless seed is
// nil, the parameter "seed" into seed, a non-negative integer; the first
// error names its parameter.
func Ints(params map[string]string, seed *uint64, ps ...IntParam) error {
	for _, p := range ps {
		v, err := Int(params, p.Name, p.Lo, p.Hi)
		if err != nil {
			return err
		}
		*p.To = v
	}
	if seed == nil {
		return nil
	}
	v, err := Int(params, "seed", 0, math.MaxInt)
	*seed = uint64(v)
	return err
}

// Float returns the parameter name of params as a number, or an error
// naming it when it is not one from lo to hi.
func Float(params map[string]string, name string, lo, hi float64) (float64, error) {
	s := params[name]
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= lo && v <= hi) {
		return 0, fmt.Errorf("parameter %s is %q, want a number from %g to %g", name, s, lo, hi)
	}
	return v, nil
}

// SearchParam returns the value of k's search parameter name for
// index.Tuner's SetParam: an integer of at least lo, name being the one
// search parameter the kind has (want). Errors name the parameter.
func SearchParam(k index.Kind, name, value, want string, lo int) (int, error) {
	if _, err := k.Param(name); err != nil {
		return 0, err
	}
	if name != want {
		return 0, fmt.Errorf("%s parameter %s is set when the index is made, not on a built one", k.Name, name)
	}
	return Int(map[string]string{name: value}, name, lo, math.MaxInt32)
}

// SetSearchParam is index.Tuner's SetParam for a kind whose one search
// parameter is want, an integer of at least lo: it sets *to with b locked
// for writing. Errors name the parameter.
func (b *Base) SetSearchParam(k index.Kind, name, value, want string, lo int, to *int) error {
	v, err := SearchParam(k, name, value, want, lo)
	if err != nil {
		return err
	}
	b.Mu.Lock()
	defer b.Mu.Unlock()
	*to = v
	return nil
}

// OrDefault returns v when it is positive, else def: a Config's zero (or
// negative) field takes its default.
func OrDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
