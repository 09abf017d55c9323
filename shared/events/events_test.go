package events

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livestack/livestack/shared/store"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func streamDetail(ch string) StreamDetail {
	return StreamDetail{ChannelID: ch, SessionID: "s-" + ch, BroadcastID: "s-" + ch, Gateway: "10.0.0.1:8080",
		StartedAt: time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)}
}

func TestBusDeliversByTypeInOrder(t *testing.T) {
	b := NewBus(BusConfig{Logger: quiet()})
	var mu sync.Mutex
	var started, all []string
	b.Subscribe(func(_ context.Context, ev Event) error {
		mu.Lock()
		defer mu.Unlock()
		started = append(started, ev.Stream().ChannelID)
		return nil
	}, TypeStreamStarted)
	b.Subscribe(func(_ context.Context, ev Event) error {
		mu.Lock()
		defer mu.Unlock()
		all = append(all, ev.Type)
		return errors.New("logged, not fatal")
	})
	for _, ch := range []string{"a", "b", "c"} {
		if err := b.Publish(context.Background(), StreamStarted(streamDetail(ch))); err != nil {
			t.Fatal(err)
		}
	}
	stopped := streamDetail("a")
	now := time.Now()
	stopped.StoppedAt = &now
	if err := b.Publish(context.Background(), StreamStopped(stopped)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(started, ","); got != "a,b,c" {
		t.Errorf("started handler saw %q, want a,b,c", got)
	}
	if len(all) != 4 || all[3] != TypeStreamStopped {
		t.Errorf("catch-all handler saw %v", all)
	}
	if err := b.Publish(context.Background(), StreamStarted(streamDetail("late"))); err == nil {
		t.Error("publish after Close succeeded")
	}
}

func TestBusUnsubscribe(t *testing.T) {
	b := NewBus(BusConfig{Logger: quiet()})
	var n int
	var mu sync.Mutex
	unsub := b.Subscribe(func(context.Context, Event) error { mu.Lock(); n++; mu.Unlock(); return nil })
	_ = b.Publish(context.Background(), StreamStarted(streamDetail("a")))
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return n == 1 })
	unsub()
	unsub()
	_ = b.Publish(context.Background(), StreamStarted(streamDetail("b")))
	_ = b.Close(context.Background())
	if n != 1 {
		t.Errorf("handler called %d times, want 1", n)
	}
}

// A full queue holds Publish back for at most FullWait, then drops; with
// FullWait negative it drops at once; room freed meanwhile takes the event.
func TestBusIsBoundedAndWaitsAtMostFullWait(t *testing.T) {
	for _, tc := range []struct {
		name     string
		wait     time.Duration
		release  time.Duration // when the handler lets go (0: only at the end)
		dropped  int64
		maxTaken time.Duration
	}{
		{name: "drop at once", wait: -1, dropped: 8, maxTaken: time.Second},
		{name: "wait then drop", wait: 50 * time.Millisecond, dropped: 8, maxTaken: 8*50*time.Millisecond + 2*time.Second},
		{name: "room frees up in time", wait: 5 * time.Second, release: 100 * time.Millisecond, dropped: 0, maxTaken: 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBus(BusConfig{Queue: 2, FullWait: tc.wait, Logger: quiet()})
			release := make(chan struct{})
			entered := make(chan struct{}, 1)
			b.Subscribe(func(context.Context, Event) error {
				select {
				case entered <- struct{}{}:
				default:
				}
				<-release
				return nil
			})
			_ = b.Publish(context.Background(), StreamStarted(streamDetail("first")))
			<-entered // the loop holds "first"; the queue is empty again
			if tc.release > 0 {
				time.AfterFunc(tc.release, func() { close(release) })
			}
			start := time.Now()
			var errs int64
			for i := 0; i < 10; i++ {
				if b.Publish(context.Background(), StreamStarted(streamDetail("x"))) != nil {
					errs++
				}
			}
			taken := time.Since(start)
			if tc.release == 0 {
				close(release)
			}
			_ = b.Close(context.Background())
			if errs != tc.dropped || b.Dropped() != tc.dropped {
				t.Errorf("errors %d, dropped %d; want %d (queue of 2)", errs, b.Dropped(), tc.dropped)
			}
			if b.Handled() != 11-tc.dropped {
				t.Errorf("handled %d, want %d", b.Handled(), 11-tc.dropped)
			}
			if taken > tc.maxTaken {
				t.Errorf("Publish took %s, want at most %s", taken, tc.maxTaken)
			}
		})
	}
}

func TestBusHandlerPanicDoesNotStopDelivery(t *testing.T) {
	b := NewBus(BusConfig{Logger: quiet()})
	var got []string
	b.Subscribe(func(_ context.Context, ev Event) error {
		if ev.Stream().ChannelID == "boom" {
			panic("boom")
		}
		got = append(got, ev.Stream().ChannelID)
		return nil
	})
	_ = b.Publish(context.Background(), StreamStarted(streamDetail("boom")), StreamStarted(streamDetail("ok")))
	_ = b.Close(context.Background())
	if len(got) != 1 || got[0] != "ok" {
		t.Errorf("got %v", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5 s")
}

// fakeEventBridge answers PutEvents like EventBridge (awsJson1_1) and records
// every request; failFirst makes the first n entries of each request fail once.
type fakeEventBridge struct {
	mu        sync.Mutex
	requests  [][]map[string]any
	failOnce  map[string]bool // detail channelId -> fail on first sight
	seen      map[string]bool
	status500 int
}

func (f *fakeEventBridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" {
		http.Error(w, "unexpected target "+r.Header.Get("X-Amz-Target"), 400)
		return
	}
	var in struct{ Entries []map[string]any }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status500 > 0 {
		f.status500--
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(500)
		_, _ = w.Write([]byte(`{"__type":"InternalException","message":"try again"}`))
		return
	}
	f.requests = append(f.requests, in.Entries)
	type res struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []res
	}{}
	for i, e := range in.Entries {
		var d StreamDetail
		_ = json.Unmarshal([]byte(e["Detail"].(string)), &d)
		if f.failOnce[d.ChannelID] && !f.seen[d.ChannelID] {
			f.seen[d.ChannelID] = true
			out.FailedEntryCount++
			out.Entries = append(out.Entries, res{ErrorCode: "ThrottlingException", ErrorMessage: "rate exceeded"})
			continue
		}
		out.Entries = append(out.Entries, res{EventId: "id-" + string(rune('a'+i))})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func newFakeEB(t *testing.T, f *fakeEventBridge) *eventbridge.Client {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return eventbridge.New(eventbridge.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: 1,
	})
}

func TestEventBridgeBatchesAndRetriesFailedEntries(t *testing.T) {
	f := &fakeEventBridge{failOnce: map[string]bool{"ch3": true, "ch12": true}, seen: map[string]bool{}}
	p := &EventBridge{Client: newFakeEB(t, f), Bus: "livestack", Source: SourceIngestAuth, Backoff: time.Millisecond, Logger: quiet()}
	var evs []Event
	for i := 0; i < 23; i++ {
		evs = append(evs, StreamStarted(streamDetail("ch"+itoa(i))))
	}
	if err := p.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	delivered := map[string]int{}
	for i, req := range f.requests {
		if len(req) > MaxBatchEntries {
			t.Errorf("request %d has %d entries", i, len(req))
		}
		for _, e := range req {
			if e["Source"] != SourceIngestAuth || e["DetailType"] != TypeStreamStarted || e["EventBusName"] != "livestack" {
				t.Errorf("entry %v", e)
			}
			var d StreamDetail
			if err := json.Unmarshal([]byte(e["Detail"].(string)), &d); err != nil {
				t.Fatal(err)
			}
			delivered[d.ChannelID]++
		}
	}
	if len(delivered) != 23 {
		t.Errorf("%d distinct events delivered, want 23", len(delivered))
	}
	if delivered["ch3"] != 2 || delivered["ch12"] != 2 || delivered["ch0"] != 1 {
		t.Errorf("retries: ch3 %d, ch12 %d, ch0 %d sends; want 2, 2, 1", delivered["ch3"], delivered["ch12"], delivered["ch0"])
	}
	// 3 batches (10, 10, 3) plus one retry for each of the two batches with a failure.
	if len(f.requests) != 5 {
		t.Errorf("%d PutEvents calls, want 5", len(f.requests))
	}
}

func TestEventBridgeSplitsBySize(t *testing.T) {
	f := &fakeEventBridge{seen: map[string]bool{}}
	p := &EventBridge{Client: newFakeEB(t, f), Bus: "b", Logger: quiet()}
	big := strings.Repeat("x", 100*1024)
	var evs []Event
	for i := 0; i < 5; i++ {
		d := streamDetail("c" + itoa(i))
		d.Reason = big
		evs = append(evs, StreamStarted(d))
	}
	if err := p.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	if len(f.requests) != 3 { // 2 + 2 + 1 events of ~100 KB under the 256 KB cap
		t.Fatalf("%d requests, want 3", len(f.requests))
	}
	for _, req := range f.requests {
		size := 0
		for _, e := range req {
			size += 14 + len(e["Source"].(string)) + len(e["DetailType"].(string)) + len(e["Detail"].(string))
		}
		if size > MaxBatchBytes {
			t.Errorf("request of %d bytes", size)
		}
	}
	huge := streamDetail("huge")
	huge.Reason = strings.Repeat("y", MaxBatchBytes)
	if err := p.Publish(context.Background(), StreamStarted(huge)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize event: %v", err)
	}
}

func TestEventBridgeGivesUpAfterAttempts(t *testing.T) {
	f := &fakeEventBridge{seen: map[string]bool{}, status500: 100}
	p := &EventBridge{Client: newFakeEB(t, f), Bus: "b", Attempts: 3, Backoff: time.Millisecond, Logger: quiet()}
	err := p.Publish(context.Background(), StreamStarted(streamDetail("a")))
	if err == nil || !strings.Contains(err.Error(), "InternalException") {
		t.Fatalf("err = %v", err)
	}
	if f.status500 != 97 {
		t.Errorf("%d calls, want 3", 100-f.status500)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Publish(ctx, StreamStarted(streamDetail("a"))); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled publish: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestDecodeDetailAndEnvelope(t *testing.T) {
	raw, err := os.ReadFile("testdata/stream-started.json")
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		ID         string          `json:"id"`
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
		Region     string          `json:"region"`
		Time       time.Time       `json:"time"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	ev, err := FromEnvelope(env.ID, env.Source, env.DetailType, env.Region, env.Time, env.Detail)
	if err != nil {
		t.Fatal(err)
	}
	d := ev.Stream()
	if d == nil || d.ChannelID != "demo" || d.Gateway != "10.0.3.7:8080" || d.BroadcastID == "" || d.Region != "eu-west-1" {
		t.Fatalf("detail %+v", d)
	}
	tests := []struct {
		name, source, typ, detail string
	}{
		{"foreign source", "aws.ecs", TypeStreamStarted, `{"channelId":"a","broadcastId":"b"}`},
		{"prefix only as substring", "xlivestack.gateway", TypeStreamStarted, `{"channelId":"a","broadcastId":"b"}`},
		{"unknown type", SourceGateway, "Stream Exploded", `{}`},
		{"missing broadcast", SourceGateway, TypeStreamStopped, `{"channelId":"a"}`},
		{"bad json", SourceGateway, TypeStreamStarted, `{"channelId":`},
		{"recording without key", SourceWorker, TypeRecordingReady, `{"channelId":"a"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FromEnvelope("x", tc.source, tc.typ, "", time.Now(), []byte(tc.detail)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// The EventBridge rules in Terraform match sources by prefix; every source
// this package produces must match it.
func TestSourcesMatchTerraformRulePrefix(t *testing.T) {
	raw, err := os.ReadFile("../../terraform/modules/events/variables.tf")
	if err != nil {
		t.Skip("terraform not present:", err)
	}
	m := regexp.MustCompile(`(?s)variable "event_source_prefix".*?default\s*=\s*"([^"]*)"`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("event_source_prefix default not found")
	}
	if string(m[1]) != SourcePrefix {
		t.Errorf("terraform prefix %q, SourcePrefix %q", m[1], SourcePrefix)
	}
	for _, s := range []string{Source, SourceGateway, SourceIngestAuth, SourceWorker} {
		if !strings.HasPrefix(s, string(m[1])) {
			t.Errorf("source %q does not match the rule prefix %q", s, m[1])
		}
	}
}

func FuzzDecodeDetail(f *testing.F) {
	f.Add(TypeStreamStarted, []byte(`{"channelId":"a","broadcastId":"b","gateway":"1.2.3.4:8080"}`))
	f.Add(TypeRecordingReady, []byte(`{"channelId":"a","key":"recordings/a/x.mp4","size":3}`))
	f.Fuzz(func(t *testing.T, typ string, raw []byte) {
		d, err := DecodeDetail(typ, raw)
		if err == nil && d == nil {
			t.Fatal("nil detail without error")
		}
		if err == nil {
			if _, err := json.Marshal(d); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestRecordingDetailOf(t *testing.T) {
	start := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	end := start.Add(90 * time.Second)
	tests := []struct {
		name    string
		rec     store.Recording
		wantKey string
	}{
		{"mp4", store.Recording{ID: "r1", ChannelID: "c", Kind: store.KindMP4, Status: store.StatusComplete,
			Keys: []string{"recordings/c/r1/0001.mp4", "recordings/c/r1/0002.mp4"}, Prefix: "recordings/c/r1/",
			StartedAt: start, EndedAt: &end, DurationMillis: 90000, Bytes: 1234}, "recordings/c/r1/0001.mp4"},
		{"hls", store.Recording{ID: "r2", ChannelID: "c", Kind: store.KindHLS, Playlist: "vod/c/r2/index.m3u8",
			Keys: []string{"vod/c/r2/0.ts"}, StartedAt: start, UpdatedAt: end}, "vod/c/r2/index.m3u8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := RecordingDetailOf(tc.rec, "bucket-1")
			if d.Key != tc.wantKey || d.RecordingID != tc.rec.ID || d.Bucket != "bucket-1" || !d.EndedAt.Equal(end) {
				t.Fatalf("%+v", d)
			}
			raw, _ := json.Marshal(d)
			got, err := DecodeDetail(TypeRecordingReady, raw)
			if err != nil || got.(*RecordingDetail).Key != tc.wantKey {
				t.Fatalf("round trip %v %v", got, err)
			}
		})
	}
	if d := RecordingDetailOf(store.Recording{Bytes: 1, DurationMillis: 1500}, ""); d.DurationSeconds != 1.5 || d.Size != 1 {
		t.Fatalf("%+v", d)
	}
}

func TestMetrics(t *testing.T) {
	f := &fakeEventBridge{failOnce: map[string]bool{"b": true}, seen: map[string]bool{}}
	p := &EventBridge{Client: newFakeEB(t, f), Bus: "x", Backoff: time.Millisecond, Logger: quiet()}
	if err := p.Publish(context.Background(), StreamStarted(streamDetail("a")), StreamStarted(streamDetail("b"))); err != nil {
		t.Fatal(err)
	}
	if sent, failed, retries := p.Counts(); sent != 2 || failed != 0 || retries != 1 {
		t.Fatalf("counts %d %d %d, want 2 0 1", sent, failed, retries)
	}
	f.status500 = 10
	p.Attempts = 2
	_ = p.Publish(context.Background(), StreamStarted(streamDetail("c")))
	b := NewBus(BusConfig{Logger: quiet()})
	b.Subscribe(func(context.Context, Event) error { return nil })
	_ = b.Publish(context.Background(), StreamStarted(streamDetail("a")))
	_ = b.Close(context.Background())
	reg := prometheus.NewRegistry()
	reg.MustRegister(Metrics{Bus: b, EventBridge: p})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			got[mf.GetName()] = m.GetCounter().GetValue()
		} else {
			got[mf.GetName()] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{"livestack_events_published_total": 2, "livestack_events_failed_total": 1,
		"livestack_events_put_retries_total": 2, "livestack_events_bus_handled_total": 1, "livestack_events_bus_dropped_total": 0,
		"livestack_events_bus_queued": 0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
