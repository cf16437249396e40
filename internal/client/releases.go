package client

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/haven-platform/haven/internal/api"
	"github.com/haven-platform/haven/internal/spec"
)

func servicePath(t spec.AppEnv, service string) string {
	return deploymentPath(t) + "/services/" + url.PathEscape(service)
}

// SetImage deploys a new image for one service.
func (c *Client) SetImage(ctx context.Context, target spec.AppEnv, service, image string) (api.DeployResponse, error) {
	var out api.DeployResponse
	err := c.do(ctx, http.MethodPost, servicePath(target, service)+"/image", api.ImageRequest{Image: image}, &out)
	return out, err
}

// Rollback releases an earlier revision (0: the previous one).
func (c *Client) Rollback(ctx context.Context, target spec.AppEnv, service string, to int) (spec.Revision, error) {
	var out spec.Revision
	err := c.do(ctx, http.MethodPost, servicePath(target, service)+"/rollback", api.RollbackRequest{To: to}, &out)
	return out, err
}

// Revisions lists a service's revisions, oldest first.
func (c *Client) Revisions(ctx context.Context, target spec.AppEnv, service string) ([]spec.Revision, error) {
	var out []spec.Revision
	err := c.do(ctx, http.MethodGet, servicePath(target, service)+"/revisions", nil, &out)
	return out, err
}

// Releases lists the newest releases ("" service: all services).
func (c *Client) Releases(ctx context.Context, target spec.AppEnv, service string, limit int) ([]spec.Release, error) {
	q := url.Values{}
	if service != "" {
		q.Set("service", service)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []spec.Release
	err := c.do(ctx, http.MethodGet, deploymentPath(target)+"/releases?"+q.Encode(), nil, &out)
	return out, err
}

// Events calls fn with each event after the sequence number; with follow
// it keeps going until ctx ends.
func (c *Client) Events(ctx context.Context, after uint64, follow bool, fn func(spec.Event) error) error {
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	if follow {
		q.Set("follow", "1")
	}
	resp, err := c.send(ctx, http.MethodGet, "/v1/events?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var e spec.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}
