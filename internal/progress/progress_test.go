package progress

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"testing"
)

// Off a terminal, progress is a log line at every tenth of the way, 100 %
// once however often the end is reported, and no carriage return or bar.
// Before, the bar was drawn with carriage returns into any writer.
func TestLogLinesOffTerminal(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	bar := NewConsole(&out, false, log).New("simulate", "views", 180)
	for done := range 181 {
		bar.Set(done)
	}
	bar.Set(180)
	bar.Set(200)
	text := out.String()
	if strings.ContainsAny(text, "\r\033") {
		t.Errorf("carriage returns or escapes in a log:\n%q", text)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 11 {
		t.Fatalf("%d lines, want 11 (0 %% to 100 %% by tenths):\n%s", len(lines), text)
	}
	for i, line := range lines {
		want := []string{"msg=progress", "task=simulate", "unit=views", "total=180",
			" percent=" + strconv.Itoa(10*i) + " ", " done=" + strconv.Itoa(18*i) + " "}
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("line %d %q lacks %q", i, line, w)
			}
		}
	}
	if n := strings.Count(text, "percent=100 "); n != 1 {
		t.Errorf("100 %% logged %d times", n)
	}
}

// On a terminal, a bar redraws itself in place and ends its line once, at
// 100 %; a log line written meanwhile clears the bar's line, stands on a
// line of its own, and the bar is drawn again below it.
func TestBarOnTerminal(t *testing.T) {
	var out bytes.Buffer
	c := NewConsole(&out, true, nil)
	log := slog.New(slog.NewTextHandler(c, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	bar := c.New("acquire", "views", 40)
	for done := range 41 {
		bar.Set(done)
		if done == 20 {
			log.Warn("frame late", "view", 20)
		}
	}
	bar.Set(40)
	if err := c.Close(); err != nil { // the bar ended its line: nothing to do
		t.Fatal(err)
	}
	text := out.String()
	if !strings.HasSuffix(text, "\n") || strings.Count(text, "\n") != 2 {
		t.Fatalf("want two lines, the log line and the finished bar:\n%q", text)
	}
	if n := strings.Count(text, "100%"); n != 1 || !strings.Contains(text, "(40/40") {
		t.Errorf("100%% drawn %d times:\n%q", n, text)
	}
	before, after, ok := strings.Cut(text, "\r\033[2Klevel=WARN msg=\"frame late\" view=20\n")
	if !ok {
		t.Fatalf("the log line is not alone on a cleared line:\n%q", text)
	}
	last := before[strings.LastIndex(before, "\racquire"):]
	if !strings.HasPrefix(after, last) {
		t.Errorf("the bar is not drawn before and again after the log line:\n%q", text)
	}
}

// A bar left unfinished by a failed task gets its line ended by Close.
func TestCloseEndsUnfinishedBar(t *testing.T) {
	var out bytes.Buffer
	c := NewConsole(&out, true, nil)
	c.New("upload", "instances", 10).Set(3)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("error: PACS went away\n"))
	if text := out.String(); !strings.HasSuffix(text, "\nerror: PACS went away\n") || !strings.Contains(text, "(3/10") {
		t.Errorf("%q", text)
	}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
