package events

import "github.com/prometheus/client_golang/prometheus"

// Metrics exposes the event publishers' counters to Prometheus (a
// metrics.Source). Either field may be nil.
type Metrics struct {
	Bus         *Bus
	EventBridge *EventBridge
}

var (
	descBusHandled = prometheus.NewDesc("livestack_events_bus_handled_total", "Event handler calls of the in-process bus.", nil, nil)
	descBusDropped = prometheus.NewDesc("livestack_events_bus_dropped_total", "Events dropped because the in-process bus queue was full.", nil, nil)
	descBusQueued  = prometheus.NewDesc("livestack_events_bus_queued", "Events waiting in the in-process bus queue.", nil, nil)
	descEBSent     = prometheus.NewDesc("livestack_events_published_total", "Events delivered to EventBridge.", nil, nil)
	descEBFailed   = prometheus.NewDesc("livestack_events_failed_total", "Events EventBridge did not take after every retry.", nil, nil)
	descEBRetries  = prometheus.NewDesc("livestack_events_put_retries_total", "PutEvents calls repeated for failed entries or errors.", nil, nil)
)

// Describe implements prometheus.Collector.
func (m Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBusHandled, descBusDropped, descBusQueued, descEBSent, descEBFailed, descEBRetries} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m Metrics) Collect(ch chan<- prometheus.Metric) {
	if m.Bus != nil {
		ch <- prometheus.MustNewConstMetric(descBusHandled, prometheus.CounterValue, float64(m.Bus.Handled()))
		ch <- prometheus.MustNewConstMetric(descBusDropped, prometheus.CounterValue, float64(m.Bus.Dropped()))
		ch <- prometheus.MustNewConstMetric(descBusQueued, prometheus.GaugeValue, float64(len(m.Bus.queue)))
	}
	if m.EventBridge != nil {
		sent, failed, retries := m.EventBridge.Counts()
		ch <- prometheus.MustNewConstMetric(descEBSent, prometheus.CounterValue, float64(sent))
		ch <- prometheus.MustNewConstMetric(descEBFailed, prometheus.CounterValue, float64(failed))
		ch <- prometheus.MustNewConstMetric(descEBRetries, prometheus.CounterValue, float64(retries))
	}
}
