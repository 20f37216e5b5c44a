package main

import (
	"bytes"
	"strings"
	"testing"
)

// A misspelt command is named as unknown, with the closest commands, and
// exits 2. Before, ctrecon printed the usage and nothing about the word.
func TestUnknownCommand(t *testing.T) {
	for _, tc := range []struct {
		arg, want string
	}{
		{"recno", "did you mean recon?"},
		{"Serve", "did you mean serve?"},
		{"job", "did you mean jobs?"},
		{"sub", "did you mean submit?"},
		{"stat", "did you mean status?"},
		{"se", "did you mean serve, setup or search?"},
		{"xyzzy", ""},
	} {
		var stderr bytes.Buffer
		code := dispatch([]string{tc.arg, "--nats", "nats://127.0.0.1:1"}, &stderr)
		out := stderr.String()
		if code != 2 || !strings.HasPrefix(out, `ctrecon: unknown command "`+tc.arg+`"`+"\n") {
			t.Errorf("ctrecon %s: exit %d, stderr\n%s\nwant exit 2 and the command named unknown", tc.arg, code, out)
		}
		if tc.want != "" && !strings.Contains(out, "\n"+tc.want+"\n") || tc.want == "" && strings.Contains(out, "did you mean") {
			t.Errorf("ctrecon %s: stderr\n%s\nwant the suggestion %q", tc.arg, out, tc.want)
		}
		if !strings.Contains(out, "commands:") {
			t.Errorf("ctrecon %s: stderr\n%s\nwant the list of commands", tc.arg, out)
		}
	}
	for _, args := range [][]string{{"-h"}, {"help"}, {"--help", "recon"}} {
		var stderr bytes.Buffer
		if code := dispatch(args, &stderr); code != 0 || !strings.Contains(stderr.String(), "commands:") {
			t.Errorf("ctrecon %v: exit %d, stderr\n%s\nwant exit 0 and the usage", args, code, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if code := dispatch(nil, &stderr); code != 2 || !strings.Contains(stderr.String(), "commands:") {
		t.Errorf("ctrecon: exit %d, want 2 and the usage", code)
	}
}
