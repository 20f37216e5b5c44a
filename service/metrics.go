package service

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ctrecon/ctrecon/recon"
)

// registry returns what /metrics serves: the workers' metrics (jobs by
// outcome, stage durations, frames received, jobs running by device), the
// work queue's depth, the search library's (search.Library.Register), the
// workers and their device, the build (go_build_info), and the Go
// runtime's and the process's collectors.
func (s *Service) registry(workers *recon.Metrics, device string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		workers,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ctrecon_queue_depth",
			Help: "Jobs in the work queue that no worker has taken yet."}, s.queueDepth),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ctrecon_workers",
			Help:        "Workers in this process, by the device they back-project on.",
			ConstLabels: prometheus.Labels{"device": device}}, func() float64 { return float64(len(s.workers)) }),
		collectors.NewBuildInfoCollector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if err := s.search.Register(reg); err != nil {
		panic(err) // a name registered twice, as MustRegister panics
	}
	return reg
}

// queueDepth asks the bus how many jobs wait for a worker, within a scrape's
// patience; NaN, and a warning in the log, when it does not answer.
func (s *Service) queueDepth() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := s.bus.QueueDepth(ctx)
	if err != nil {
		s.log.Warn("metrics: queue depth", "err", err)
		return math.NaN()
	}
	return float64(n)
}
