package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

func printTable(w io.Writer, r *Result) {
	fmt.Fprintf(w, "input %s  merge-window %q  step %s\n", r.Input, r.MergeWindow, r.DurationSteps)
	fmt.Fprintf(w, "idle (publisher only): server CPU %.1f%%  RSS %.1f MB\n", r.IdleCPUPct, r.IdleRSSMB)
	fmt.Fprintf(w, "time to first keyframe (quiet, sequential): p50 %.2f ms  p99 %.2f ms\n\n", r.TTFKP50MS, r.TTFKP99MS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "viewers\tconnected\tkbit/s\tgoodput%\tmin%\tp50 ms\tp99 ms\tmax ms\tstalls\tdisc\tttfk p50\tttfk p99\tcpu%\tcpu%/100\tRSS MB\tKB/viewer\tharness cpu%\thealthy\t")
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%d\t%d\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.2f\t%.1f\t%.1f\t%.0f\t%v\t\n",
			s.Viewers, s.Connected, s.PublishedKbps, s.GoodputPct, s.MinGoodputPct, s.DelayP50MS, s.DelayP99MS, s.DelayMaxMS,
			s.Stalls, s.Disconnects, s.TTFKP50MS, s.TTFKP99MS, s.ServerCPUPct, s.CPUPer100Pct, s.ServerRSSMB, s.RSSPerViewerKB, s.HarnessCPUPct, s.Healthy)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nhighest healthy viewer count: %d\n", r.MaxHealthy)
}
