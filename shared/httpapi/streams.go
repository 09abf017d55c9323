package httpapi

import (
	"net/http"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/relay"
)

// listStreams shows what is live now: the hub's streams (standalone, gateway)
// with the gateway address and region of their publish sessions, or, without
// a hub (Lambda), the store's publish sessions. StreamStats sources add
// their figures under extra.
func (a *API) listStreams(c *gin.Context) {
	out := []StreamInfo{}
	sessions, err := a.cfg.Store.ListSessions(c.Request.Context())
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not list publish sessions", err)
		return
	}
	if a.cfg.Streams != nil {
		out = append(out, a.cfg.Streams.Streams()...)
		byChannel := make(map[string]int, len(sessions)) // a map, not a scan per stream: thousands of streams
		for i, s := range sessions {
			byChannel[s.ChannelID] = i
		}
		for i := range out {
			id, _, _ := strings.Cut(out[i].Key, "/") // "{channelId}" or "{channelId}/{rendition}"
			if k, ok := byChannel[id]; ok {
				out[i].Gateway, out[i].Region = sessions[k].Gateway, sessions[k].Region
			}
		}
	} else {
		for _, s := range sessions {
			out = append(out, StreamInfo{
				Stats:   hub.Stats{Key: s.ChannelID, Live: true, Since: s.StartedAt, PublishedAt: s.StartedAt},
				Relays:  []relay.State{},
				Gateway: s.Gateway, Region: s.Region,
			})
		}
	}
	for i := range out {
		for _, src := range a.cfg.StreamStats {
			if v := src.StreamStats(out[i].Key); v != nil {
				if out[i].Extra == nil {
					out[i].Extra = map[string]any{}
				}
				out[i].Extra[src.Name()] = v
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	c.JSON(http.StatusOK, gin.H{"streams": out})
}
