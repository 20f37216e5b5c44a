package search

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/agnivade/levenshtein"
	"github.com/ctrecon/ctrecon/material"
)

// ErrFilter is wrapped by every error about a filter; the message names the
// field, operator or value and its column (counted from 1).
var ErrFilter = errors.New("filter")

// The filter language selects records by their metadata and feature
// values:
//
//	class = 'contrast' and volume > 500
//	study_date >= 2026-01-01 and (scanner ~ 'mars' or kev_low >= 30)
//	morph.vol > 500 and not series = '1.2.3'
//	`cm.joint_max|3D, averaged` < 0.2
//
// A comparison is FIELD OP VALUE, with OP one of = != < <= > >= and ~
// (text contains, case-insensitively); comparisons combine with and, or,
// not and parentheses (and binds tighter than or). VALUE is a number, a
// date (YYYY-MM-DD) or a quoted string ('...' or "..."). FIELD is a
// metadata field (see metaFields) or the name of a feature of an indexed
// kind, qualified as KIND:NAME when two kinds share the name; a name with
// spaces or commas goes in backquotes. A feature comparison holds when the
// record's item (series, bin, slice and object) has a record of the
// feature's kind whose value compares true: so "volume > 500" selects the
// radiomics of the objects whose objects-v1 record has a volume over 500
// mm³.

// fieldType is what values a field compares with.
type fieldType int

const (
	textField fieldType = iota
	intField
	realField
	dateField
)

// metaField is a metadata field of the filter language: the SQL
// expression it compares, with %s standing for the comparison, over the
// record row r.
type metaField struct {
	typ fieldType
	sql string
	doc string
}

// metaFields are the filter's metadata fields. Every one is indexed in the
// store (schema).
var metaFields = map[string]metaField{
	"kind":        {textField, "r.kind %s", "the feature kind with its version, radiomics-v1"},
	"scan":        {textField, "r.scan_id %s", "the scan ID"},
	"study":       {textField, "r.study_uid %s", "the study instance UID"},
	"series":      {textField, "r.series_uid %s", "the series instance UID"},
	"class":       {textField, "r.class %s", "the object's material class"},
	"bin":         {intField, "r.bin %s", "the energy bin's number"},
	"slice":       {intField, "r.slice %s", "the axial slice, -1 for the volume"},
	"object":      {intField, "r.object %s", "the object's label, 0 for none"},
	"study_date":  {dateField, "r.scan_id IN (SELECT id FROM scans WHERE study_date %s)", "the study's date"},
	"scan_date":   {dateField, "r.scan_id IN (SELECT id FROM scans WHERE scan_date %s)", "the day the scan started"},
	"scanner":     {textField, "r.scan_id IN (SELECT id FROM scans WHERE scanner %s)", "the scanner"},
	"description": {textField, "r.scan_id IN (SELECT id FROM scans WHERE description %s)", "the study's description"},
	"kev_low":     {realField, "(r.scan_id, r.bin) IN (SELECT scan_id, bin FROM bins WHERE kev_low %s)", "the energy bin's lower bound, keV"},
	"kev_high":    {realField, "(r.scan_id, r.bin) IN (SELECT scan_id, bin FROM bins WHERE kev_high %s)", "the energy bin's upper bound, keV"},
}

// featureAliases name features by the words the filter's users know.
var featureAliases = map[string]string{"volume": "objects-v1:volume_mm3"}

// featureSQL compares a feature's value, %s standing for the name IDs and
// the comparison.
const featureSQL = "r.item IN (SELECT r2.item FROM vals v JOIN recs r2 ON r2.id = v.rec WHERE v.name IN (%s) AND v.value %s)"

// resolver finds a feature by its name in the filter: the IDs of the
// names it stands for (one per kind that has it), or an error.
type resolver func(name string) ([]int64, error)

// compiled is a filter as an SQL condition on the record row r and its
// arguments.
type compiled struct {
	where string
	args  []any
}

// compileFilter parses src and returns it as SQL; an empty src selects
// everything. Errors wrap ErrFilter.
func compileFilter(src string, features resolver) (compiled, error) {
	if strings.TrimSpace(src) == "" {
		return compiled{where: "1"}, nil
	}
	toks, err := lex(src)
	if err != nil {
		return compiled{}, err
	}
	p := &parser{toks: toks, features: features}
	var c compiled
	if c.where, err = p.or(&c.args); err != nil {
		return compiled{}, err
	}
	if t := p.peek(); t.kind != tEOF {
		return compiled{}, p.errAt(t, "unexpected %q after a complete filter (want and, or or the end)", t.text)
	}
	return c, nil
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tNumber
	tString
	tDate
	tOp
	tLParen
	tRParen
)

type token struct {
	kind tokKind
	text string
	col  int // from 1
}

var (
	datePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}`)
	numPattern  = regexp.MustCompile(`^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?`)
	operators   = []string{"=", "!=", "<", "<=", ">", ">=", "~"}
)

func lex(src string) ([]token, error) {
	var out []token
	for i := 0; i < len(src); {
		c, col := src[i], i+1
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			out = append(out, token{map[byte]tokKind{'(': tLParen, ')': tRParen}[c], string(c), col})
			i++
		case c == '\'' || c == '"' || c == '`':
			j := strings.IndexByte(src[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("%w: column %d: the quote %c is not closed", ErrFilter, col, c)
			}
			kind := tString
			if c == '`' {
				kind = tIdent
			}
			out = append(out, token{kind, src[i+1 : i+1+j], col})
			i += j + 2
		case datePattern.MatchString(src[i:]):
			out = append(out, token{tDate, src[i : i+10], col})
			i += 10
		case numPattern.MatchString(src[i:]):
			n := numPattern.FindString(src[i:])
			out = append(out, token{tNumber, n, col})
			i += len(n)
		case strings.IndexByte("<>=!~", c) >= 0:
			j := i
			for j < len(src) && strings.IndexByte("<>=!~", src[j]) >= 0 {
				j++
			}
			op := src[i:j]
			if !isOperator(op) {
				return nil, fmt.Errorf("%w: column %d: unknown operator %q (operators: %s)", ErrFilter, col, op, strings.Join(operators, " "))
			}
			out = append(out, token{tOp, op, col})
			i = j
		case c == '_' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(src) && isIdentByte(src[j]) {
				j++
			}
			out = append(out, token{tIdent, src[i:j], col})
			i = j
		default:
			return nil, fmt.Errorf("%w: column %d: unexpected character %q", ErrFilter, col, c)
		}
	}
	return append(out, token{tEOF, "", len(src) + 1}), nil
}

func isOperator(op string) bool {
	for _, o := range operators {
		if o == op {
			return true
		}
	}
	return false
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '.' || c == '|' || c == ':' || c == '-' || c == '[' || c == ']' ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

type parser struct {
	toks     []token
	i        int
	features resolver
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// keyword reports whether the next token is the word w and takes it.
func (p *parser) keyword(w string) bool {
	if t := p.peek(); t.kind == tIdent && strings.EqualFold(t.text, w) {
		p.i++
		return true
	}
	return false
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return fmt.Errorf("%w: column %d: %s", ErrFilter, t.col, fmt.Sprintf(format, args...))
}

func (p *parser) or(args *[]any) (string, error) {
	return p.chain("or", p.and, args)
}

func (p *parser) and(args *[]any) (string, error) {
	return p.chain("and", p.unary, args)
}

// chain parses operands joined by the keyword op.
func (p *parser) chain(op string, operand func(*[]any) (string, error), args *[]any) (string, error) {
	left, err := operand(args)
	for err == nil && p.keyword(op) {
		var right string
		if right, err = operand(args); err == nil {
			left = "(" + left + " " + strings.ToUpper(op) + " " + right + ")"
		}
	}
	return left, err
}

func (p *parser) unary(args *[]any) (string, error) {
	if p.keyword("not") {
		s, err := p.unary(args)
		return "(NOT " + s + ")", err
	}
	if t := p.peek(); t.kind == tLParen {
		p.next()
		s, err := p.or(args)
		if err != nil {
			return "", err
		}
		if c := p.next(); c.kind != tRParen {
			return "", p.errAt(c, "want ) to close the ( of column %d, found %q", t.col, c.text)
		}
		return s, nil
	}
	return p.comparison(args)
}

func (p *parser) comparison(args *[]any) (string, error) {
	f := p.next()
	if f.kind != tIdent {
		return "", p.errAt(f, "want a field name, found %q", f.text)
	}
	op := p.next()
	if op.kind != tOp {
		return "", p.errAt(op, "want an operator (%s) after %s, found %q", strings.Join(operators, " "), f.text, op.text)
	}
	v := p.next()
	if v.kind == tIdent {
		return "", p.errAt(v, "want a value after %s %s: quote the value if it is text (%s %s '%s')", f.text, op.text, f.text, op.text, v.text)
	}
	if v.kind != tNumber && v.kind != tString && v.kind != tDate {
		return "", p.errAt(v, "want a value (a number, a date or a quoted string) after %s %s, found %q", f.text, op.text, v.text)
	}
	mf, ok := metaFields[f.text]
	if !ok {
		return p.feature(f, op, v, args)
	}
	val, err := p.value(f, mf.typ, op, v)
	if err != nil {
		return "", err
	}
	*args = append(*args, val)
	return fmt.Sprintf(mf.sql, sqlOp(op.text)), nil
}

// feature compiles a comparison of a feature's value.
func (p *parser) feature(f, op, v token, args *[]any) (string, error) {
	name := f.text
	if a, ok := featureAliases[name]; ok {
		name = a
	}
	ids, err := p.features(name)
	if err != nil {
		return "", p.errAt(f, "%v", err)
	}
	val, err := p.value(f, realField, op, v)
	if err != nil {
		return "", err
	}
	if err := fractionRange(name, val.(float64)); err != nil {
		return "", p.errAt(v, "%v", err)
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	for _, id := range ids {
		*args = append(*args, id)
	}
	*args = append(*args, val)
	return fmt.Sprintf(featureSQL, marks, sqlOp(op.text)), nil
}

// fractionRange refuses comparing a volume fraction of a materials-v1
// record (water, lipid: 0 to 1) with x outside 0 to 1, which keeps every
// record or none: the maps and reports give these fractions in % of
// volume, and "lipid > 50", read as percent, silently matched nothing.
func fractionRange(name string, x float64) error {
	kind, bare, ok := strings.Cut(name, ":")
	if !ok {
		kind, bare = material.RecordKind, name
	}
	if m, err := material.Lookup(bare); kind != material.RecordKind || x >= 0 && x <= 1 || err != nil || !m.Base() {
		return nil
	}
	return fmt.Errorf("%s is a volume fraction in %s records, 0 to 1 (the maps and reports give it in %% of volume): %g keeps every record or none; for %g %% compare with %g",
		name, material.RecordKind, x, x, x/100)
}

// value checks v against a field of type typ compared with op and returns
// it as the SQL argument.
func (p *parser) value(f token, typ fieldType, op, v token) (any, error) {
	if op.text == "~" && typ != textField {
		return nil, p.errAt(op, "operator ~ (contains) applies to text fields; %s is a number or date", f.text)
	}
	switch typ {
	case textField:
		if v.kind != tString {
			return nil, p.errAt(v, "%s is text: quote the value (%s %s '%s')", f.text, f.text, op.text, v.text)
		}
		if op.text == "~" { // SQLite's LIKE ignores the case of ASCII letters
			esc := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(v.text)
			return "%" + esc + "%", nil
		}
		return v.text, nil
	case dateField:
		if !(v.kind == tDate || v.kind == tString && len(v.text) == 10 && datePattern.MatchString(v.text)) {
			return nil, p.errAt(v, "%s is a date: want YYYY-MM-DD, found %q", f.text, v.text)
		}
		if _, err := time.Parse(time.DateOnly, v.text); err != nil { // compared as text: 2026-02-30 would pass
			return nil, p.errAt(v, "%s is a date: %q is no day of the calendar", f.text, v.text)
		}
		return v.text, nil
	}
	if v.kind != tNumber {
		return nil, p.errAt(v, "%s is a number: found %q", f.text, v.text)
	}
	x, err := strconv.ParseFloat(v.text, 64)
	if err != nil {
		return nil, p.errAt(v, "%s: %q is not a number", f.text, v.text)
	}
	if typ == intField {
		if x != float64(int64(x)) {
			return nil, p.errAt(v, "%s is an integer: found %s", f.text, v.text)
		}
		return int64(x), nil
	}
	return x, nil
}

// sqlOp returns the SQL of a filter operator with its argument mark.
func sqlOp(op string) string {
	switch op {
	case "~":
		return `LIKE ? ESCAPE '\'`
	case "!=":
		return "<> ?"
	}
	return op + " ?"
}

// unknownField is the error for a field name that is neither metadata nor
// a known feature: it lists the metadata fields and suggests the nearest
// of the metadata fields and known feature names.
func unknownField(name string, known []string) error {
	meta := slices.Sorted(maps.Keys(metaFields))
	best, bestD := "", 4
	for _, k := range slices.Concat(meta, known) {
		if d := levenshtein.ComputeDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	msg := fmt.Sprintf("unknown field %q (metadata fields: %s; features: the names GET /search/kinds lists)", name, strings.Join(meta, ", "))
	if best != "" {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	return errors.New(msg)
}
