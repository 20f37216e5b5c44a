package settingshash

import (
	"math"
	"testing"
)

type settings struct {
	Bins int     `json:"bins"`
	Tol  float64 `json:"tol"`
}

// TestOfStable pins the hash of one value: it must never change, or every
// stored record would name settings nobody can reproduce. The expected value
// is the first 8 bytes of `printf '{"bins":64,"tol":0.01}' | sha256sum`.
func TestOfStable(t *testing.T) {
	if got, want := Of(settings{Bins: 64, Tol: 0.01}), "c38f34c80e059906"; got != want {
		t.Errorf("Of = %s, want %s", got, want)
	}
}

func TestOfDistinguishes(t *testing.T) {
	base := Of(settings{Bins: 64, Tol: 0.01})
	for _, s := range []settings{{Bins: 65, Tol: 0.01}, {Bins: 64, Tol: 0.010000000000000002}, {Bins: 64}} {
		if Of(s) == base {
			t.Errorf("%+v hashes like {64 0.01}", s)
		}
	}
	if Of(settings{Bins: 64, Tol: 0.01}) != base {
		t.Error("the same settings hash differently")
	}
}

func TestOfPanicsOnNaN(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a NaN setting did not panic")
		}
	}()
	Of(settings{Tol: math.NaN()})
}
