package worker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/runner"
	"github.com/livestack/livestack/shared/signing"
)

// Local adapts Run to the standalone build's local runner
// (runner.LocalConfig.Run): it reads the stream straight from the
// in-process hub and publishes renditions to the gateway's RTMP address from
// the task (runner.Task.GatewayRTMP), signed with the platform's push key.
// Set every field before the first stream starts.
type Local struct {
	// Hub is the gateway's hub; nil pulls HTTP-FLV from Task.Gateway instead.
	Hub *hub.Hub
	// Signer signs the renditions' publish URLs (required).
	Signer *signing.Signer
	// LoadChannel fetches the channel (store.GetChannel, required).
	LoadChannel func(ctx context.Context, id string) (*channel.Channel, error)
	// RTMPAddr is used when a task carries no GatewayRTMP.
	RTMPAddr string
	// Stats, FFmpeg, Preset and Logger are passed to Config.
	Stats  *Registry
	FFmpeg string
	Preset string
	Logger *slog.Logger
}

// Run runs the worker of one task until its stream ends or ctx ends.
func (l *Local) Run(ctx context.Context, t runner.Task) error {
	rtmp := t.GatewayRTMP
	if rtmp == "" {
		rtmp = l.RTMPAddr
	}
	if l.Signer == nil || rtmp == "" {
		return errors.New("local worker: Signer and an RTMP address are required")
	}
	cfg := Config{
		ChannelID:   t.ChannelID,
		LoadChannel: l.LoadChannel,
		Gateway:     t.Gateway,
		PublishURL:  SignedPublishURL(rtmp, l.Signer, t.ChannelID, 10*time.Minute),
		FFmpeg:      l.FFmpeg,
		Preset:      l.Preset,
		Stats:       l.Stats,
		Logger:      l.Logger,
	}
	if l.Hub != nil {
		cfg.Source = HubSource{Hub: l.Hub, Key: t.ChannelID}
	}
	if l.Logger != nil && t.BroadcastID != "" {
		cfg.Logger = l.Logger.With("broadcast", t.BroadcastID)
	}
	return Run(ctx, cfg)
}
