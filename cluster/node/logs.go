package node

import (
	"context"
	"io"
	"log/slog"
	"strings"
)

// Logger returns the structured logger for a node: JSON lines on w at
// level (debug, info, warn or error; default info).
func Logger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// slogWriter turns the line-oriented logs of http.Server and of raft
// (hclog) into structured records, so a node's stderr is JSON throughout.
// hclog lines look like "<time> [LEVEL] name: message: k=v ..."; the
// level is kept, the rest becomes the message.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line == "" {
			continue
		}
		lvl := slog.LevelWarn
		msg := line
		if i := strings.Index(line, " ["); i >= 0 {
			if j := strings.Index(line[i:], "]"); j > 0 {
				switch strings.TrimSpace(line[i+2 : i+j]) {
				case "TRACE", "DEBUG":
					lvl = slog.LevelDebug
				case "INFO":
					lvl = slog.LevelInfo
				case "ERROR":
					lvl = slog.LevelError
				}
				msg = strings.TrimSpace(line[i+j+1:])
			}
		}
		w.l.Log(context.Background(), lvl, msg)
	}
	return len(p), nil
}
