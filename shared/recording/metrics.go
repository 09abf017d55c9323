package recording

import "github.com/prometheus/client_golang/prometheus"

// Metrics reports the recorder's state at scrape time; register it with the
// gateway's metrics (it is a metrics.Source).
type Metrics struct{ Recorder *Recorder }

func rdesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("livestack_recording_"+name, help, labels, nil)
}

var (
	dActive        = rdesc("active", "Recordings not yet finished (recording, or uploading what is left).")
	dSpoolFiles    = rdesc("spool_files_pending", "Finished files waiting in the spool for conversion or upload.")
	dSpoolBytes    = rdesc("spool_bytes_pending", "Bytes of the files waiting in the spool.")
	dUploads       = rdesc("uploads_total", "Upload attempts of recorded files by result (every failure is retried).", "result")
	dRetries       = rdesc("upload_retries_total", "Upload attempts after a failed one.")
	dIndexFailures = rdesc("index_failures_total", "Failed writes of the recording index (retried).")
	dRecovered     = rdesc("files_recovered_total", "Files finished from the spool after a restart.")
	dSkipped       = rdesc("skipped_packets_total", "Packets of codecs MP4 recording does not carry (only H.264 and AAC are recorded).")
)

// Describe implements prometheus.Collector.
func (m Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dActive, dSpoolFiles, dSpoolBytes, dUploads, dRetries, dIndexFailures, dRecovered, dSkipped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m Metrics) Collect(ch chan<- prometheus.Metric) {
	r := m.Recorder
	files, bytes := r.SpoolPending()
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	c := func(d *prometheus.Desc, v int64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	g(dActive, float64(r.Active()))
	g(dSpoolFiles, float64(files))
	g(dSpoolBytes, float64(bytes))
	c(dUploads, r.Counters.UploadsOK.Load(), "ok")
	c(dUploads, r.Counters.UploadsFailed.Load(), "failed")
	c(dRetries, r.Counters.UploadRetries.Load())
	c(dIndexFailures, r.Counters.IndexFailures.Load())
	c(dRecovered, r.Counters.FilesRecovered.Load())
	c(dSkipped, r.Counters.SkippedPackets.Load())
}
