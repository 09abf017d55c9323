package rtmpserver

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/sirupsen/logrus"
)

// newLibraryLogger routes go-rtmp's logrus output (warnings and errors only)
// into slog as single-line records, so protocol errors on a connection (garbage,
// bad chunks, refused commands) leave one log line naming the peer.
func newLibraryLogger(log *slog.Logger) *logrus.Logger {
	l := logrus.New()
	l.Out = io.Discard
	l.Level = logrus.WarnLevel
	l.Formatter = &logrus.TextFormatter{DisableColors: true}
	l.Hooks.Add(&slogHook{log: log})
	return l
}

type slogHook struct{ log *slog.Logger }

func (h *slogHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (h *slogHook) Fire(e *logrus.Entry) error {
	msg, _, _ := strings.Cut(e.Message, "\n") // drop pkg/errors stack traces
	attrs := []any{"detail", msg}
	for k, v := range e.Data {
		attrs = append(attrs, k, v)
	}
	level := slog.LevelWarn
	switch {
	case strings.Contains(msg, "use of closed network connection"), strings.HasSuffix(msg, "EOF"),
		strings.Contains(msg, "connection reset by peer"):
		level = slog.LevelDebug // the peer or the server ended the connection: not an error
	case e.Level <= logrus.ErrorLevel:
		level = slog.LevelError
	}
	h.log.Log(context.Background(), level, "rtmp connection error", attrs...)
	return nil
}
