package preview

import (
	"image"
	"image/color"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// fontSize is the height of label text in pixels: readable when a picture
// is shown at its full size beside 512-pixel panels.
const fontSize = 16

// Label colours: text white, orientation letters amber as in most viewers.
var (
	textColor   = color.RGBA{0xff, 0xff, 0xff, 0xff}
	letterColor = color.RGBA{0xff, 0xc8, 0x28, 0xff}
)

// face returns the label font face. The Go font is embedded in the binary,
// so parsing it cannot fail unless the module is corrupt. A face keeps
// glyph buffers and is not safe for concurrent use, and jobs draw their
// previews at the same time: hold faceMu while using it.
var face = sync.OnceValue(func() font.Face {
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		panic("preview: parse the embedded Go font: " + err.Error())
	}
	fc, err := opentype.NewFace(f, &opentype.FaceOptions{Size: fontSize, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		panic("preview: make a face of the embedded Go font: " + err.Error())
	}
	return fc
})

// faceMu serialises the uses of face.
var faceMu sync.Mutex

// metrics returns face's metrics.
func metrics() font.Metrics {
	faceMu.Lock()
	defer faceMu.Unlock()
	return face().Metrics()
}

// lineHeight is the height of one line of labels, in pixels.
func lineHeight() int { return metrics().Height.Ceil() + 4 }

// textWidth returns the advance of s in pixels.
func textWidth(s string) int {
	faceMu.Lock()
	defer faceMu.Unlock()
	return font.MeasureString(face(), s).Ceil()
}

// drawText writes s into dst in c, horizontally from x, vertically centred
// in the line that starts at top.
func drawText(dst *image.RGBA, s string, x, top int, c color.Color) {
	m := metrics()
	baseline := top + (lineHeight()-m.Height.Ceil())/2 + m.Ascent.Ceil()
	faceMu.Lock()
	defer faceMu.Unlock()
	d := font.Drawer{Dst: dst, Src: image.NewUniform(c), Face: face(), Dot: fixed.P(x, baseline)}
	d.DrawString(s)
}
