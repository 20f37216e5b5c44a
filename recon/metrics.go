package recon

import "github.com/prometheus/client_golang/prometheus"

// Outcomes a worker settles a delivery of a job with, the values of
// Metrics.Jobs' outcome label.
const (
	OutcomeDone      = "done"
	OutcomeFailed    = "failed"
	OutcomeRetried   = "retried" // failed, to be tried again
	OutcomeCancelled = "cancelled"
)

// stageMetrics maps the report's stages (Report.Seconds) that Metrics
// times to the values of its stage label.
var stageMetrics = map[string]string{
	"preprocess": "preprocess", "filter": "filter", "backproject": "backproject", "dicom": "dicom", "pacs": "upload",
}

// Metrics are what workers count, as Prometheus collectors. One Metrics
// serves any number of workers; it is itself a prometheus.Collector, to
// register with the process's registry.
type Metrics struct {
	// Jobs counts settled deliveries by outcome (OutcomeDone, ...).
	Jobs *prometheus.CounterVec
	// Stages times the stages of each job computed or uploaded:
	// preprocess, filter, backproject, dicom, upload; in seconds.
	Stages *prometheus.HistogramVec
	// Frames counts the projection frames received from streamed scans,
	// each frame of a job once.
	Frames prometheus.Counter
	// Running is the number of jobs being reconstructed, by the device
	// each runs on (a job may ask for the CPU on a GPU worker).
	Running *prometheus.GaugeVec
}

// NewMetrics returns a Metrics with every outcome and stage at zero, so
// that they are exposed before the first job.
func NewMetrics() *Metrics {
	m := &Metrics{
		Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctrecon_jobs_total", Help: "Jobs this process's workers settled, by outcome."}, []string{"outcome"}),
		Stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ctrecon_stage_duration_seconds", Help: "Time a job spent in each stage of its reconstruction and upload.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 9)}, []string{"stage"}), // 10 ms to 11 min
		Frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ctrecon_frames_received_total", Help: "Projection frames the workers received from streamed scans, each frame of a job once."}),
		Running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ctrecon_jobs_running", Help: "Jobs this process's workers are reconstructing, by the device each runs on."}, []string{"device"}),
	}
	for _, o := range []string{OutcomeDone, OutcomeFailed, OutcomeRetried, OutcomeCancelled} {
		m.Jobs.WithLabelValues(o)
	}
	for _, s := range stageMetrics {
		m.Stages.WithLabelValues(s)
	}
	return m
}

// Describe and Collect make Metrics a prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Jobs, m.Stages, m.Frames, m.Running}
}

// observe records the time of each stage of rep that Metrics times.
func (m *Metrics) observe(rep *Report, stages ...string) {
	for _, stage := range stages {
		if s, ok := rep.Seconds[stage]; ok {
			m.Stages.WithLabelValues(stageMetrics[stage]).Observe(s)
		}
	}
}
