package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Backup writes the cluster's metadata, as of a linearizable read, to w in
// the snapshot format (gzip JSON lines; docs/metadata.md) and returns the
// bytes written. It tries the endpoints like any read.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RetryTimeout)
	defer cancel()
	var last error
	for attempt := range 2 * len(c.endpoints) {
		ep := c.endpoint(attempt)
		n, err := c.backupOnce(rctx, ep, w)
		if err == nil || n > 0 {
			// Once bytes reached w a retry would duplicate them.
			return n, err
		}
		last = err
		if rctx.Err() != nil {
			break
		}
	}
	return 0, fmt.Errorf("client: backup: %w", last)
}

func (c *Client) backupOnce(ctx context.Context, ep string, w io.Writer) (int64, error) {
	req, err := c.newRequest(ctx, ep, http.MethodGet, p("backup"), nil, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return 0, c.apiError(resp.StatusCode, http.MethodGet, "/v1/backup", data)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("client: backup cut off after %d bytes: %w", n, err)
	}
	return n, nil
}
