package search

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"strconv"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/image/draw"

	"github.com/ctrecon/ctrecon/dicomio"
	sp "github.com/ctrecon/ctrecon/features/spatial"
)

// web holds the search page: index.html, app.js and style.css, served at /
// and /web/ with no external assets.
//
//go:embed web
var web embed.FS

// thumbSize is a thumbnail's width and height, pixels.
const thumbSize = 96

// thumbCacheSize is how many thumbnails rendered from DICOM the page's
// cache keeps (PNGs of a few KiB each): a page of hits many times over.
const thumbCacheSize = 512

// newThumbCache returns the cache of thumbnails rendered from DICOM, by
// item key: rendering one reads its whole series, which a page showing
// the same hits again, or other slices of a series, need not repeat.
func newThumbCache() *lru.Cache[string, []byte] {
	c, _ := lru.New[string, []byte](thumbCacheSize) // errs only for a size below 1
	return c
}

// classColors colour an object's class in thumbnails (and in the page's
// sketch); other classes are grey.
var classColors = map[string]color.RGBA{
	"bone":        {230, 230, 210, 255},
	"contrast":    {80, 170, 255, 255},
	"soft-tissue": {230, 120, 110, 255},
	"lipid":       {240, 200, 60, 255},
}

// pageRoutes adds the page, its assets and the endpoints only the page
// uses to mux.
func (h *handler) pageRoutes(mux *http.ServeMux) {
	assets, _ := fs.Sub(web, "web")
	mux.Handle("GET /web/", http.StripPrefix("/web/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "index.html")
	})
	mux.HandleFunc("GET /search/thumbnail", h.auth(h.thumbnail))
	mux.HandleFunc("POST /search/sketch", h.auth(h.sketch))
}

// thumbnail answers GET /search/thumbnail?key=ITEM with a PNG of the
// hit: its axial slice (the middle one for a volume or an object) read
// from the series' DICOM files when HTTPOptions.SeriesDir finds them,
// windowed as the series opens in viewers; otherwise the objects' boxes
// of its series and bin (the volume's virtual image) seen along z,
// coloured by class, the hit's own object outlined in white: the library
// itself keeps no voxels.
func (h *handler) thumbnail(w http.ResponseWriter, r *http.Request) {
	it, err := ParseItem(r.URL.Query().Get("key"))
	if err != nil {
		h.reply(w, nil, badRequest("parameter key: %v", err))
		return
	}
	key := it.String()
	data, ok := h.thumbs.Get(key)
	if !ok {
		data, err = h.render(r.Context(), it)
	}
	if err != nil {
		h.reply(w, nil, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write(data)
}

// render returns it's thumbnail as PNG: its slice rendered from DICOM,
// kept in the cache, else its layout, not kept (it changes as records of
// the series come).
func (h *handler) render(ctx context.Context, it Item) ([]byte, error) {
	img, err := h.slice(it)
	fromDICOM := img != nil
	if img == nil && err == nil {
		img, err = h.layoutOf(ctx, it)
	}
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	if fromDICOM {
		h.thumbs.Add(it.String(), buf.Bytes())
	}
	return buf.Bytes(), nil
}

// slice renders it's axial slice from its series' DICOM files; nil when
// SeriesDir does not find them. The series is read whole: a thumbnail
// costs a series read, fine for a page of hits (and kept in the cache,
// render), not for a bulk export.
func (h *handler) slice(it Item) (image.Image, error) {
	if h.o.SeriesDir == nil {
		return nil, nil
	}
	dir, ok := h.o.SeriesDir(it.Series)
	if !ok {
		return nil, nil
	}
	s, err := dicomio.ReadCTSeries(dir)
	if err != nil {
		return nil, fmt.Errorf("thumbnail of %s: %w", it, err)
	}
	g := s.Grid
	z := it.Slice
	if z < 0 || z >= g.Dim[2] {
		z = g.Dim[2] / 2
	}
	win := dicomio.DefaultWindows()[0]
	lo := win.Center - win.Width/2
	grey := image.NewGray(image.Rect(0, 0, g.Dim[0], g.Dim[1]))
	plane := s.HU[z*g.Dim[0]*g.Dim[1]:][:g.Dim[0]*g.Dim[1]]
	for i, hu := range plane {
		grey.Pix[i] = uint8(255 * min(max((hu-lo)/win.Width, 0), 1))
	}
	wmm, hmm := float64(g.Dim[0])*g.Spacing[0], float64(g.Dim[1])*g.Spacing[1]
	scale := thumbSize / max(wmm, hmm)
	out := image.NewRGBA(image.Rect(0, 0, thumbSize, thumbSize))
	fill(out, out.Bounds(), color.RGBA{0, 0, 0, 255})
	dw, dh := int(wmm*scale+0.5), int(hmm*scale+0.5)
	x0, y0 := (thumbSize-dw)/2, (thumbSize-dh)/2
	draw.CatmullRom.Scale(out, image.Rect(x0, y0, x0+dw, y0+dh), grey, grey.Bounds(), draw.Src, nil)
	return out, nil
}

// layoutOf draws the layout of it's series and bin from its virtual
// image.
func (h *handler) layoutOf(ctx context.Context, it Item) (image.Image, error) {
	vol := Item{Series: it.Series, Bin: it.Bin, Slice: -1}
	data, err := h.l.store.data(ctx, sp.KindVolume, vol.String())
	if err != nil {
		return nil, err
	}
	var vi sp.VirtualImage
	if err := json.Unmarshal(data, &vi); err != nil {
		return nil, fmt.Errorf("virtual image of %s: %w", vol, err)
	}
	return layout(&vi, it.Object), nil
}

// layout draws vi's objects' x-y boxes scaled to fill a thumbnail, the
// object labelled mark outlined in white.
func layout(vi *sp.VirtualImage, mark int64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, thumbSize, thumbSize))
	fill(img, img.Bounds(), color.RGBA{20, 20, 28, 255})
	if len(vi.Objects) == 0 {
		return img
	}
	lo, hi := vi.Objects[0].Min, vi.Objects[0].Max
	for _, o := range vi.Objects {
		for k := range 2 {
			lo[k], hi[k] = min(lo[k], o.Min[k]), max(hi[k], o.Max[k])
		}
	}
	span := max(hi[0]-lo[0], hi[1]-lo[1], 1e-9)
	px := func(v, l float64) int { return 4 + int((v-l)/span*(thumbSize-8)) }
	for _, o := range vi.Objects {
		rect := image.Rect(px(o.Min[0], lo[0]), px(o.Min[1], lo[1]), px(o.Max[0], lo[0])+1, px(o.Max[1], lo[1])+1)
		c, ok := classColors[o.Class]
		if !ok {
			c = color.RGBA{150, 150, 150, 255}
		}
		c.A = 140
		fill(img, rect, c)
		if int64(o.Label) == mark {
			outline(img, rect, color.RGBA{255, 255, 255, 255})
		}
	}
	return img
}

// fill blends c over r of img.
func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	a := uint32(c.A)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			p := img.RGBAAt(x, y)
			mix := func(f, b uint8) uint8 { return uint8((uint32(f)*a + uint32(b)*(255-a)) / 255) }
			img.SetRGBA(x, y, color.RGBA{mix(c.R, p.R), mix(c.G, p.G), mix(c.B, p.B), 255})
		}
	}
}

// outline draws r's border in c.
func outline(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for x := r.Min.X; x < r.Max.X; x++ {
		img.SetRGBA(x, r.Min.Y, c)
		img.SetRGBA(x, r.Max.Y-1, c)
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		img.SetRGBA(r.Min.X, y, c)
		img.SetRGBA(r.Max.X-1, y, c)
	}
}

// maxSketch is the largest sketch accepted, bytes.
const maxSketch = 64 << 10

// sketch answers POST /search/sketch?threshold=T&limit=N, a query by
// icons drawn on the page: the body is a JSON list of objects (label,
// class, min_mm and max_mm on x and y), made into a slice's virtual image
// whose relations, on x and y, are asked of the volumes (z left free).
func (h *handler) sketch(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	t, err := strconv.ParseFloat(params.Get("threshold"), 64)
	if err != nil || !(t >= 0 && t <= 1) {
		h.reply(w, nil, badRequest("parameter threshold: %q is not a number from 0 to 1", params.Get("threshold")))
		return
	}
	q := Query{Kind: sp.KindVolume}
	if s := params.Get("limit"); s != "" {
		if q.Limit, err = intParam("limit", s, MaxLimit); err != nil {
			h.reply(w, nil, err)
			return
		}
	}
	var objs []sp.Object
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSketch))
	if err == nil {
		err = json.Unmarshal(body, &objs)
	}
	if err != nil {
		h.reply(w, nil, badRequest("request body: want a JSON list of objects: %v", err))
		return
	}
	vi, err := sp.Slice(objs, sp.DefaultSettings())
	if err == nil {
		q.Icons, err = sp.QueryFrom(vi, t)
	}
	if errors.Is(err, sp.ErrInput) {
		err = badRequest("sketch: %v", err)
	}
	if err != nil {
		h.reply(w, nil, err)
		return
	}
	a, err := h.s.Search(r.Context(), q)
	h.reply(w, a, err)
}
