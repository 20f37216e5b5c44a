package pacs

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// PingTimeout bounds Ping when its context has no earlier deadline.
const PingTimeout = 5 * time.Second

// Ping checks that the DICOMweb service answers, with one cheap QIDO-RS
// query (GET BaseURL/studies?limit=1), so that a PACS that is down, a wrong
// root or refused credentials are found before the work whose results are
// to go there. Any 2xx answer passes (200 with a match or none, 204); an
// error names the URL and what came back, and wraps ErrRejected for an
// HTTP status that retrying cannot change (404, 401, ...).
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	url := strings.TrimSuffix(c.BaseURL, "/") + "/studies?limit=1"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("pacs: %s: %w", c.BaseURL, err)
	}
	req.Header.Set("Accept", "application/dicom+json")
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Password)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("pacs: %s does not answer: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		err := fmt.Errorf("pacs: %s: GET %s: HTTP %d: %s", c.BaseURL, url, resp.StatusCode, firstLine(body))
		if rejected(resp.StatusCode) {
			err = fmt.Errorf("%w; %w", err, ErrRejected)
		}
		return err
	}
	return nil
}
