package search

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the library's Prometheus metrics: query latency per kind
// and index, the indexes' sizes, and the snapshot's age. They carry kinds
// and index names only, never an identifier of a scan or a patient.
type Metrics struct {
	latency *prometheus.HistogramVec
}

func newMetrics() *Metrics {
	return &Metrics{latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ctrecon_search_query_seconds",
		Help:    "Time to answer a search query, by feature kind and the index that served it.",
		Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16), // 0.2 ms to 6.5 s
	}, []string{"kind", "index"})}
}

func (m *Metrics) observe(kind, ix string, took time.Duration) {
	if kind == "" {
		kind = "all"
	}
	m.latency.WithLabelValues(kind, ix).Observe(took.Seconds())
}

// Register adds the library's metrics to reg: the latency histograms, and
// gauges read at each scrape: ctrecon_search_vectors (per kind and index)
// and ctrecon_search_snapshot_age_seconds (−1 before the first snapshot).
func (l *Library) Register(reg prometheus.Registerer) error {
	sizes := prometheus.NewDesc("ctrecon_search_vectors", "Vectors or virtual images in a kind's index.", []string{"kind", "index"}, nil)
	age := prometheus.NewDesc("ctrecon_search_snapshot_age_seconds", "Seconds since the snapshot loaded or written; -1 when there is none.", nil, nil)
	for _, c := range []prometheus.Collector{l.metrics.latency, collector{l, sizes, age}} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

type collector struct {
	l          *Library
	sizes, age *prometheus.Desc
}

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.sizes; ch <- c.age }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.l.mu.RLock()
	defer c.l.mu.RUnlock()
	for k, vk := range c.l.vectors {
		ch <- prometheus.MustNewConstMetric(c.sizes, prometheus.GaugeValue, float64(vk.ix.Len()), k, vk.ix.Kind())
	}
	for k, x := range c.l.images {
		ch <- prometheus.MustNewConstMetric(c.sizes, prometheus.GaugeValue, float64(x.Len()), k, "spatial")
	}
	age := -1.0
	if !c.l.snapAt.IsZero() {
		age = time.Since(c.l.snapAt).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}
