package search

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	sp "github.com/ctrecon/ctrecon/features/spatial"
)

// browser returns the path of a Chromium to drive, skipping the test when
// none is installed.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: `make deps` (or apt-get install chromium) installs it; the page test needs a real browser")
	return ""
}

// page is a headless Chromium showing the search page of l.
type page struct {
	t   *testing.T
	ctx context.Context
	url string
	api *api // the same server, its answers checked against openapi.json
}

func openPage(t *testing.T, l *Library, o HTTPOptions) *page {
	exe := browser(t)
	a := newAPI(t, l, o)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second) // a hang guard
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1100, 760), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	return &page{t: t, ctx: bctx, url: a.srv.URL, api: a}
}

// do runs steps in the browser, failing the test on an error.
func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

// shown waits until the page has shown the answer of the query whose like
// is like ("" for any) and returns the keys of the hits it shows, in
// order, and the summary line.
func (p *page) shown(like string) ([]string, string) {
	p.t.Helper()
	p.do(chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.body.dataset.state === "done" && (%q === "" || new URLSearchParams(location.search).get("like") === %[1]q)`, like),
		chromedp.WithPollingTimeout(20*time.Second)))
	keys, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#hits .hit .key")].map(e => e.textContent.replace(/^\d+\. /, ""))`))
	if err != nil {
		p.t.Fatal(err)
	}
	summary, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.ID("summary")))
	if err != nil {
		p.t.Fatal(err)
	}
	return keys, summary
}

// set sets the value of the form field id as a user's choice would,
// failing the test when the field has no such value (a select's option).
func set(id, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %q; return e.value === %[2]q; })()`, id, value),
		chromedp.WithPollingTimeout(5*time.Second))
}

// keysOf returns the keys of an answer's hits.
func keysOf(a *Answer) []string {
	var keys []string
	for _, h := range a.Hits {
		keys = append(keys, h.Key)
	}
	return keys
}

// same fails the test unless the page shows exactly the hits the HTTP
// API answers to q (POST /search).
func (p *page) same(what string, shown []string, q Query) {
	p.t.Helper()
	a := p.api.answer("POST", "/search", q)
	if want := keysOf(a); len(want) == 0 || !slices.Equal(shown, want) {
		p.t.Fatalf("%s: the page shows %q, the API answers %q", what, shown, want)
	}
}

// screenshot saves the page as PNG under $CTRECON_ARTIFACTS (or the
// test's temporary folder) and returns the path.
func (p *page) screenshot(name string) string {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatal(err)
	}
	dir := os.Getenv("CTRECON_ARTIFACTS")
	if dir == "" {
		dir = p.t.TempDir()
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// TestPage runs queries through the search page in Chromium: a shared
// URL (/?like=SERIES_UID alone, and with kind and k), a click on a hit
// (query by example), a filter typed into the form and boxes dragged onto
// the sketch (query by icons); each time the hits shown must be exactly
// the API's answer to the same query, and every thumbnail must load.
func TestPage(t *testing.T) {
	recs := fixtureRecords(40, 21)
	p := openPage(t, openFixture(t, Config{}, recs), HTTPOptions{})
	like := "1.2.826.7.1"

	p.do(chromedp.Navigate(p.url + "/?like=" + url.QueryEscape(like))) // a series: hist-hu-v1, k 10 by default
	shown, _ := p.shown(like)
	p.same("shared URL", shown, Query{Kind: "hist-hu-v1", Like: like, K: DefaultK})
	p.do(chromedp.Navigate(p.url + "/?like=" + url.QueryEscape(like) + "&kind=hist-hu-v1&k=6"))
	shown, _ = p.shown(like)
	p.same("shared URL with kind and k", shown, Query{Kind: "hist-hu-v1", Like: like, K: 6})
	p.do(chromedp.Poll[chromedp.Void](`[...document.images].every(i => i.complete && i.naturalWidth === 96)`, chromedp.WithPollingTimeout(10*time.Second)))

	second := shown[1]
	p.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#hits .hit[data-key=%q]`, second))))
	shown, _ = p.shown(second)
	p.same("click on a hit", shown, Query{Kind: "hist-hu-v1", Like: second, K: 6})
	p.screenshot("search.png")

	filter := "class = 'bone' AND morph.vol > 500"
	p.do(set("like", ""), set("kind", "radiomics-v1"),
		set("filter", filter), chromedp.Click(chromedp.CSS(`#form button`)))
	p.do(chromedp.Poll[chromedp.Void](fmt.Sprintf(`new URLSearchParams(location.search).get("filter") === %q`, filter), chromedp.WithPollingTimeout(10*time.Second)))
	shown, summary := p.shown("")
	p.same("typed filter", shown, Query{Kind: "radiomics-v1", Filter: filter})
	t.Logf("filter: %s", summary)

	boxes := [][4]float64{{20, 30, 120, 100}, {140, 40, 220, 180}}
	classes := []string{"bone", "contrast"}
	origin, err := chromedp.Run(p.ctx, chromedp.Evaluate[[2]float64](`(() => { const r = document.getElementById("sketch").getBoundingClientRect(); return [r.left, r.top]; })()`))
	if err != nil {
		t.Fatal(err)
	}
	var objs []sp.Object
	for i, b := range boxes {
		x0, y0, x1, y1 := origin[0]+b[0], origin[1]+b[1], origin[0]+b[2], origin[1]+b[3]
		p.do(set("class", classes[i]),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x0, y0, chromedp.ButtonLeft, chromedp.ClickCount(1)),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x1, y1, chromedp.ButtonLeft),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x1, y1, chromedp.ButtonLeft, chromedp.ClickCount(1)))
		objs = append(objs, sp.Object{Label: int32(i + 1), Class: classes[i], Min: [3]float64{b[0], b[1]}, Max: [3]float64{b[2], b[3]}})
	}
	p.do(set("threshold", "0.3"), chromedp.Click(chromedp.ID("icons-search")))
	shown, _ = p.shown("")
	vi, err := sp.Slice(objs, sp.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	icons, err := sp.QueryFrom(vi, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	p.same("sketch", shown, Query{Kind: sp.KindVolume, Icons: icons})
	t.Logf("screenshot: %s", p.screenshot("search-icons.png"))
}

// TestPageToken: with a bearer token configured, the page asks the API
// (and for thumbnails) with the token typed into it.
func TestPageToken(t *testing.T) {
	p := openPage(t, openFixture(t, Config{}, fixtureRecords(10, 8)), HTTPOptions{Token: "s3cret"})
	like := "1.2.826.3.1"
	p.do(chromedp.Navigate(p.url+"/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), p.api.token), chromedp.Blur(chromedp.ID("token")),
		chromedp.Poll[chromedp.Void](`document.getElementById("kind").options.length > 1`, chromedp.WithPollingTimeout(5*time.Second)),
		set("like", like), set("kind", "hist-hu-v1"), set("k", "4"), chromedp.Click(chromedp.CSS(`#form button`)))
	shown, _ := p.shown(like)
	p.same("with a token", shown, Query{Kind: "hist-hu-v1", Like: like, K: 4})
	p.do(chromedp.Poll[chromedp.Void](`[...document.images].every(i => i.complete && i.naturalWidth === 96)`, chromedp.WithPollingTimeout(10*time.Second)))
}

// TestPageEndpoints: the page and its assets are served; a thumbnail is a
// PNG showing the hit's object in its class's colour; bad thumbnails and
// sketches are 4xx naming what is wrong, valid under openapi.json.
func TestPageEndpoints(t *testing.T) {
	recs := fixtureRecords(5, 4)
	a := newAPI(t, openFixture(t, Config{}, recs), HTTPOptions{})
	for _, path := range []string{"/", "/web/app.js", "/web/style.css"} {
		resp, err := http.Get(a.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}

	r := ofKind(recs, "radiomics-v1")[0]
	code, body := a.do("GET", "/search/thumbnail?key="+url.QueryEscape(ItemOf(&r).String()), "", nil)
	if code != http.StatusOK {
		t.Fatalf("thumbnail: %d %s", code, body)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("thumbnail: %v", err)
	}
	if b := img.Bounds(); b.Dx() != thumbSize || b.Dy() != thumbSize {
		t.Fatalf("thumbnail is %v, want %d x %d", b, thumbSize, thumbSize)
	}
	if !hasWhite(img) {
		t.Error("thumbnail: the hit's object is not outlined")
	}

	for _, c := range []struct {
		method, path, body string
		code               int
		says               string
	}{
		{"GET", "/search/thumbnail?key=1.2.x", "", 400, "not a series UID"},
		{"GET", "/search/thumbnail?key=9.9.9", "", 404, "no vimage-xyz-v1 record of 9.9.9"},
		{"POST", "/search/sketch?threshold=2", "[]", 400, "threshold"},
		{"POST", "/search/sketch?threshold=0.5", "{", 400, "JSON list of objects"},
		{"POST", "/search/sketch?threshold=0.5", `[{"label":1,"class":"bone","min_mm":[5,5,0],"max_mm":[1,9,0]}]`, 400, "sketch:"},
	} {
		code, body := a.do(c.method, c.path, "application/json", []byte(c.body))
		if code != c.code || !strings.Contains(string(body), c.says) {
			t.Errorf("%s %s %s: %d %s, want %d saying %q", c.method, c.path, c.body, code, body, c.code, c.says)
		}
	}
}

// hasWhite reports whether img has a white pixel: an outline.
func hasWhite(img image.Image) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r == 0xffff && g == 0xffff && bl == 0xffff {
				return true
			}
		}
	}
	return false
}

// TestThumbnailFromDICOM: with the series' DICOM files at hand a
// thumbnail is the hit's own slice, in the soft-tissue window the series
// opens with (centre 40, width 400 HU: 200 HU at grey 229, 0 HU at 102).
func TestThumbnailFromDICOM(t *testing.T) {
	const muWater = 0.02
	g := fdk.Grid{Dim: [3]int{16, 16, 2}, Spacing: [3]float64{1, 1, 1}}
	vol := fdk.NewVolume(g)
	for i := range vol.Data {
		x, z := i%16, i/256
		bright := z == 1 && x < 5 || z == 0 && x >= 11 // left on slice 1, right on slice 0
		hu := map[bool]float64{true: 200, false: 0}[bright]
		vol.Data[i] = float32(muWater * (1 + hu/1000))
	}
	st := dicomio.Study{StudyInstanceUID: dicomio.NewUID(), FrameOfReferenceUID: dicomio.NewUID()}
	series, err := dicomio.WriteSeries(t.TempDir(), st, dicomio.Bin{MuWater: muWater}, vol, dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, openFixture(t, Config{}, fixtureRecords(2, 5)), HTTPOptions{SeriesDir: func(uid string) (string, bool) {
		return series.Dir, uid == series.SeriesInstanceUID
	}})
	for _, c := range []struct {
		key         string
		left, right uint8
	}{{series.SeriesInstanceUID + "/s1", 229, 102}, {series.SeriesInstanceUID + "/s0", 102, 229}} {
		code, body := a.do("GET", "/search/thumbnail?key="+url.QueryEscape(c.key), "", nil)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", c.key, code, body)
		}
		img, err := png.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []struct {
			x    int
			want uint8
		}{{10, c.left}, {85, c.right}} {
			r, _, _, _ := img.At(p.x, 48).RGBA()
			if got := uint8(r >> 8); got < p.want-2 || got > p.want+2 {
				t.Errorf("%s: pixel (%d, 48) is grey %d, want %d", c.key, p.x, got, p.want)
			}
		}
	}

	// A thumbnail shown again comes from the cache: the series is not
	// read again (here, it is gone); one never rendered fails to read it.
	_, before := a.do("GET", "/search/thumbnail?key="+url.QueryEscape(series.SeriesInstanceUID+"/s1"), "", nil)
	if err := os.RemoveAll(series.Dir); err != nil {
		t.Fatal(err)
	}
	code, again := a.do("GET", "/search/thumbnail?key="+url.QueryEscape(series.SeriesInstanceUID+"/s1"), "", nil)
	if code != http.StatusOK || !bytes.Equal(again, before) {
		t.Errorf("the same thumbnail with its series gone: %d, %d bytes, want 200 and the %d bytes from before", code, len(again), len(before))
	}
	if code, _ := a.do("GET", "/search/thumbnail?key="+url.QueryEscape(series.SeriesInstanceUID), "", nil); code != http.StatusInternalServerError {
		t.Errorf("a thumbnail never rendered, its series gone: %d, want 500", code)
	}
}
