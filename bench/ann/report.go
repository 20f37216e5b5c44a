package ann

import (
	"cmp"
	"fmt"
	"image/color"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/ctrecon/ctrecon/index"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// ParamString writes params as name=value, names in sorted order.
func ParamString(params map[string]string) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(params)) {
		parts = append(parts, name+"="+params[name])
	}
	return strings.Join(parts, " ")
}

// paramsUsed writes r's parameters as ParamString does, each adjusted one
// followed by the value in use: "ef=2 (used 10)".
func paramsUsed(r Result) string {
	p := maps.Clone(r.Params)
	for _, a := range r.Adjusted {
		p[a.Name] += " (used " + a.Used + ")"
	}
	return ParamString(p)
}

// WriteTable writes results as a Markdown table, in the order given, then
// what the table cannot hold (see writeNotes).
func WriteTable(w io.Writer, results []Result) error {
	if err := writeRows(w, results); err != nil {
		return err
	}
	return writeNotes(w, results)
}

// writeRows writes the table of results.
func writeRows(w io.Writer, results []Result) error {
	withLabels := slices.ContainsFunc(results, func(r Result) bool { return r.LabelPrecision != nil })
	head := "| tool | index | parameters | recall@k | QPS | build s | bytes/vector |"
	rule := "|---|---|---|---|---|---|---|"
	if withLabels {
		head += " label precision@k |"
		rule += "---|"
	}
	if _, err := fmt.Fprintf(w, "%s\n%s\n", head, rule); err != nil {
		return err
	}
	for _, r := range results {
		line := fmt.Sprintf("| %s | %s | %s | %.4f | %.0f | %.2f | %.0f |",
			r.Tool, r.Index, paramsUsed(r), r.RecallAtK, r.QPS, r.BuildS, r.BytesPerVector)
		if withLabels {
			if r.LabelPrecision != nil {
				line += fmt.Sprintf(" %.4f |", *r.LabelPrecision)
			} else {
				line += " |"
			}
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// writeNotes writes, under the table, a line for each row's adjusted
// parameters (why the value in use is not the one given), warnings and
// Slim-tree measures (distances per query against a linear scan's, the
// fat- and bloat-factors before and after Slim-down).
func writeNotes(w io.Writer, results []Result) error {
	var lines []string
	for i, r := range results {
		row := fmt.Sprintf("row %d (%s)", i+1, ParamString(r.Params))
		for _, a := range r.Adjusted {
			lines = append(lines, fmt.Sprintf("%s: %s=%s used %s: %s", row, a.Name, a.Given, a.Used, a.Why))
		}
		for _, warn := range r.Warnings {
			lines = append(lines, fmt.Sprintf("warning: %s: %s", row, warn))
		}
		if s := r.SlimDown; s != nil {
			lines = append(lines, fmt.Sprintf("%s: %.0f distances per query, a linear scan %d (%.1f %%); "+
				"after Slim-down (%d moves into a sibling leaf), fat-factor %.4f -> %.4f, bloat-factor %.4f -> %.4f; "+
				"a point query reads %.2f -> %.2f nodes of %d -> %d (the fat-factor divides by the nodes less the height, "+
				"so removing emptied leaves can raise it while the reads fall)",
				row, r.DistancesPerQuery, r.Vectors, 100*r.DistancesPerQuery/float64(r.Vectors),
				s.Moves, s.FatBefore, s.FatAfter, s.BloatBefore, s.BloatAfter,
				s.AccessesBefore, s.AccessesAfter, s.NodesBefore, s.NodesAfter))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "\n%s\n", strings.Join(lines, "\n"))
	return err
}

// Plot draws recall@k against queries per second (logarithmic), one line
// per tool and build (the settings that differ only in search parameters,
// such as HNSW's ef or IVF's nprobe), and writes it as a PNG to path.
func Plot(path, title string, results []Result) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "recall@k"
	p.Y.Label.Text = "queries per second (one thread)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = false
	p.Legend.Left = true
	series := map[string]plotter.XYs{}
	var names []string
	for _, r := range results {
		build := maps.Clone(r.Params)
		delete(build, "ef") // the peers' search parameter
		if kind, err := index.KindNamed(r.Index); err == nil {
			for _, p := range kind.Params {
				if p.Search {
					delete(build, p.Name)
				}
			}
		}
		name := r.Tool + " " + r.Index + " " + ParamString(build)
		if _, ok := series[name]; !ok {
			names = append(names, name)
		}
		series[name] = append(series[name], plotter.XY{X: r.RecallAtK, Y: r.QPS})
	}
	for i, name := range names {
		xy := series[name]
		slices.SortFunc(xy, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		if err := addLine(p, i, name, xy); err != nil {
			return err
		}
	}
	return savePNG(p, path)
}

// addLine adds xy to p as its i-th line with points, in the i-th colour
// and shape, named in the legend.
func addLine(p *plot.Plot, i int, name string, xy plotter.XYs) error {
	line, points, err := plotter.NewLinePoints(xy)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
	line.Width = vg.Points(1.5)
	points.Shape = plotutil.Shape(i)
	p.Add(line, points)
	p.Legend.Add(name, line, points)
	return nil
}

// savePNG gives p a grid and a white background and writes it to path as
// a PNG of 8 by 6 inches.
func savePNG(p *plot.Plot, path string) error {
	p.Add(plotter.NewGrid())
	p.BackgroundColor = color.White
	return p.Save(8*vg.Inch, 6*vg.Inch, path)
}
