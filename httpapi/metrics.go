package httpapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vsrp_http_requests_total",
			Help: "HTTP requests by API, HTTP status and App API code (-1 where there is none).",
		}, []string{"api", "status", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vsrp_http_request_duration_seconds",
			Help:    "HTTP request latency by API.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"api"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *metrics) observe(api string, status, code int, d time.Duration) {
	m.requests.WithLabelValues(api, strconv.Itoa(status), strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(api).Observe(d.Seconds())
}
