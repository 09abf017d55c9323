package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store/boltstore"
)

// An endpoint for the publish callback (docs/ingest-callback.md) deciding with
// ingest.Local, and a gateway's ingest.Callback asking it.
func Example_callbackEndpoint() {
	dir, _ := os.MkdirTemp("", "ingest-example")
	defer os.RemoveAll(dir)
	st, _ := boltstore.Open(filepath.Join(dir, "db"))
	defer st.Close()
	_ = st.CreateChannel(context.Background(), &channel.Channel{ID: "cam-1", Enabled: true})
	pushKey := bytes.Repeat([]byte{1}, signing.MinKeySize)
	signer, _ := signing.New(pushKey)
	local := &ingest.Local{Store: st, Signer: signer}
	secret := []byte("callback-secret-0123456789")

	mux := http.NewServeMux()
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil || ingest.VerifySignature(secret, r.Header.Get(ingest.TimestampHeader),
			r.Header.Get(ingest.SignatureHeader), body, time.Now(), 5*time.Minute) != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var req ingest.CallbackRequest
		if json.Unmarshal(body, &req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var (
			grant ingest.Grant
			aerr  error
		)
		switch req.Action {
		case ingest.ActionPublish:
			grant, aerr = local.AuthorizePublish(r.Context(), req.PublishRequest)
		case ingest.ActionRenew:
			grant, aerr = local.Renew(r.Context(), req.PublishRequest)
		case ingest.ActionUnpublish:
			aerr = local.Unpublish(r.Context(), req.PublishRequest)
		}
		w.Header().Set("Content-Type", "application/json")
		switch reason := ingest.ReasonOf(aerr); {
		case reason != "":
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(ingest.CallbackResponse{Reason: reason})
		case aerr != nil: // store trouble: let the gateway fail closed (publish) or retry (renew)
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
		default:
			_ = json.NewEncoder(w).Encode(ingest.CallbackResponse{Allow: true, Grant: &grant})
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	gateway := &ingest.Callback{URL: srv.URL, Secret: secret}
	req := ingest.PublishRequest{ChannelID: "cam-1", App: "stream", RemoteAddr: "203.0.113.7:51234",
		Gateway: "10.0.3.7:8080", SessionID: "s1"}
	_, err := gateway.AuthorizePublish(context.Background(), req)
	fmt.Println("unsigned:", ingest.ReasonOf(err))

	req.Sign = signer.Sign("cam-1", time.Now().Add(time.Hour))
	grant, err := gateway.AuthorizePublish(context.Background(), req)
	fmt.Println("signed:", err, grant.Channel.ID, grant.Channel.Outputs.HLSSegmentSeconds)

	req.SessionID = "s2"
	_, err = gateway.AuthorizePublish(context.Background(), req)
	fmt.Println("second encoder:", ingest.ReasonOf(err))

	_, err = (&ingest.Callback{URL: srv.URL, Secret: []byte("wrong")}).AuthorizePublish(context.Background(), req)
	fmt.Println("wrong secret:", ingest.ReasonOf(err))
	// Output:
	// unsigned: unsigned
	// signed: <nil> cam-1 2
	// second encoder: already_live
	// wrong secret: authorizer_unavailable
}
