package sinogram

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// template is a parsed file name template.
type template struct {
	parts []templatePart
}

type templatePart struct {
	lit   string
	field string // view, bin, cam or index; empty for a literal
	width int
}

var templateFields = map[string]bool{"view": true, "bin": true, "cam": true, "index": true}

func parseTemplate(s string) (*template, error) {
	if s == "" {
		return nil, errors.New("empty template")
	}
	t := &template{}
	rest := s
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if close := strings.IndexByte(rest, '}'); close >= 0 && (open < 0 || close < open) {
			return nil, fmt.Errorf("%q: unmatched '}'", s)
		}
		if open < 0 {
			t.parts = append(t.parts, templatePart{lit: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, templatePart{lit: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q: unmatched '{'", s)
		}
		name, width, hasWidth := strings.Cut(rest[open+1:open+end], ":")
		if !templateFields[name] {
			return nil, fmt.Errorf("%q: unknown placeholder {%s} (known: view, bin, cam, index)", s, name)
		}
		p := templatePart{field: name}
		if hasWidth {
			w, err := strconv.Atoi(width)
			if err != nil || w < 1 || w > 9 {
				return nil, fmt.Errorf("%q: width %q of {%s} must be 1 to 9", s, width, name)
			}
			p.width = w
		}
		t.parts = append(t.parts, p)
		rest = rest[open+end+1:]
	}
	if err := checkRelPath(t.format(map[string]int{"view": 0, "bin": 0, "cam": 0, "index": 0})); err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	return t, nil
}

// checkRelPath rejects names that would leave the scan folder.
func checkRelPath(name string) error {
	if filepath.IsAbs(name) || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) {
		return fmt.Errorf("%q must be a path relative to the scan folder, with / separators", name)
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." || el == "." || el == "" {
			return fmt.Errorf("%q must not contain empty, . or .. elements", name)
		}
	}
	return nil
}

func (t *template) has(field string) bool {
	for _, p := range t.parts {
		if p.field == field {
			return true
		}
	}
	return false
}

func (t *template) format(vals map[string]int) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == "" {
			b.WriteString(p.lit)
		} else {
			fmt.Fprintf(&b, "%0*d", p.width, vals[p.field])
		}
	}
	return b.String()
}
