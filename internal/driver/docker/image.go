package docker

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// pullTimeout bounds the one pull attempt for an image that is not present
// locally. Haven's machines often have no registry at all; a deploy should
// say so quickly rather than hang on DNS or TCP timeouts.
const pullTimeout = 20 * time.Second

// PrepareImage builds the service's image when it has a build section, and
// otherwise makes sure its image is present, pulling it once if not. It
// returns the image ID.
func (d *Driver) PrepareImage(ctx context.Context, app spec.AppEnv, svc spec.Service) (string, error) {
	if svc.Build != nil {
		tag := svc.Image
		if tag == "" {
			tag = fmt.Sprintf("haven/%s-%s:latest", app.App, svc.Name)
		}
		id, err := d.build(ctx, svc.Build, tag, map[string]string{spec.LabelManaged: "true", spec.LabelApp: app.App, spec.LabelService: svc.Name})
		if err != nil {
			return "", fmt.Errorf("build %s: %w", svc.Name, err)
		}
		return id, nil
	}
	if svc.Image == "" {
		return "", fmt.Errorf("prepare image of %s: the service has neither an image nor a build section", svc.Name)
	}
	if img, err := d.cli.ImageInspect(ctx, svc.Image); err == nil {
		return img.ID, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect image %s: %w", svc.Image, err)
	}
	pullErr := d.pull(ctx, svc.Image)
	if pullErr == nil {
		if img, err := d.cli.ImageInspect(ctx, svc.Image); err == nil {
			return img.ID, nil
		}
	}
	return "", &userError{
		msg:   fmt.Sprintf("image %q is not present locally and no registry answered; build it or load it (docker load / a build: section)", svc.Image),
		kind:  driver.ErrImageNotFound,
		cause: pullErr,
	}
}

// pull tries once to pull ref, reading the progress stream to its end because
// the Engine reports pull failures inside the stream, not as an HTTP status.
func (d *Driver) pull(ctx context.Context, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, pullTimeout)
	defer cancel()
	rc, err := d.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = readMessages(rc, nil)
	return err
}

// build sends the context directory to the Engine's classic builder and
// returns the ID of the image tagged tag. The classic builder is used because
// it is the one every Engine version serves over the plain API (BuildKit
// needs a session the SDK does not provide).
func (d *Driver) build(ctx context.Context, b *spec.Build, tag string, labels map[string]string) (string, error) {
	dockerfile := b.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarContext(pw, b.Context, dockerfile)) }()
	defer pr.Close()

	args := make(map[string]*string, len(b.Args))
	for k, v := range b.Args {
		args[k] = &v
	}
	return buildImage(ctx, d.cli, pr, build.ImageBuildOptions{
		Tags:       []string{tag},
		Dockerfile: filepath.ToSlash(dockerfile),
		BuildArgs:  args,
		Target:     b.Target,
		Labels:     labels,
	})
}

// buildImage runs one classic-builder build of buildContext (a tar stream)
// and returns the image ID. BuildKit needs a session the SDK does not
// provide; the classic builder works on every Engine.
func buildImage(ctx context.Context, cli *client.Client, buildContext io.Reader, opts build.ImageBuildOptions) (string, error) {
	opts.Remove, opts.ForceRemove, opts.Version = true, true, build.BuilderV1
	resp, err := cli.ImageBuild(ctx, buildContext, opts)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	id, err := readMessages(resp.Body, nil)
	if err != nil {
		return "", err
	}
	if id == "" {
		// Old Engines do not send the aux ID message; the tag is as good.
		img, err := cli.ImageInspect(ctx, opts.Tags[0])
		if err != nil {
			return "", fmt.Errorf("inspect built image %s: %w", opts.Tags[0], err)
		}
		id = img.ID
	}
	return id, nil
}

// message is one object of the Engine's JSON progress stream (build, pull).
// It is declared here rather than taken from the SDK's jsonmessage package,
// which drags terminal handling along.
type message struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Aux json.RawMessage `json:"aux"`
}

// readMessages consumes a progress stream. It returns the image ID announced
// in an aux message, or an error naming the step that failed: the last
// "Step n/m : ..." line the builder printed before the error. Stream text is
// copied to out when it is not nil.
func readMessages(r io.Reader, out io.Writer) (imageID string, err error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	var step string
	var tail []string // the last lines of output, for errors without a step
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return imageID, nil
			}
			return imageID, fmt.Errorf("read engine progress: %w", err)
		}
		if out != nil && m.Stream != "" {
			_, _ = io.WriteString(out, m.Stream)
		}
		for _, line := range strings.Split(strings.TrimRight(m.Stream, "\n"), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			if strings.HasPrefix(line, "Step ") {
				step, tail = line, nil
				continue
			}
			if tail = append(tail, line); len(tail) > 5 {
				tail = tail[1:]
			}
		}
		if len(m.Aux) > 0 {
			var aux struct{ ID string }
			if json.Unmarshal(m.Aux, &aux) == nil && aux.ID != "" {
				imageID = aux.ID
			}
		}
		msg := m.Error
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			msg = m.ErrorDetail.Message
		}
		if msg != "" {
			switch {
			case step != "" && len(tail) > 0:
				return "", fmt.Errorf("%s: %s\n%s", step, msg, strings.Join(tail, "\n"))
			case step != "":
				return "", fmt.Errorf("%s: %s", step, msg)
			default:
				return "", errors.New(msg)
			}
		}
	}
}

// tarContext writes the build context dir as a tar stream, leaving out what
// .dockerignore excludes. The Dockerfile and .dockerignore are always sent,
// as the Docker CLI does, because the builder needs them.
func tarContext(w io.Writer, dir, dockerfile string) error {
	ignore, err := readIgnore(filepath.Join(dir, ".dockerignore"))
	if err != nil {
		return err
	}
	keep := map[string]bool{filepath.ToSlash(filepath.Clean(dockerfile)): true, ".dockerignore": true}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !keep[rel] && ignore.excludes(rel) {
			// A directory is still walked when a later "!" pattern may
			// bring back something inside it.
			if e.IsDir() && !ignore.hasNegation {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("build context %s: %w", rel, err)
		}
		hdr.Name = rel
		if e.IsDir() {
			hdr.Name += "/"
		}
		// Ownership and times of the host do not belong in the image and
		// would make identical contexts hash differently.
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = time.Unix(0, 0), time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("build context %s: %w", dir, err)
	}
	return tw.Close()
}

// ignoreRules is a minimal .dockerignore: one pattern per line, '#'
// comments, path.Match globs ('*', '?', '[...]') plus a "**" that matches any
// number of directories, "!" negations, last match wins, and a pattern that
// matches a directory excludes everything under it.
type ignoreRules struct {
	patterns    []ignorePattern
	hasNegation bool
}

type ignorePattern struct {
	parts  []string // the pattern split on "/"
	negate bool
}

func readIgnore(file string) (ignoreRules, error) {
	var r ignoreRules
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("read %s: %w", file, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var p ignorePattern
		if strings.HasPrefix(line, "!") {
			p.negate, line = true, strings.TrimSpace(line[1:])
			r.hasNegation = true
		}
		line = strings.Trim(path.Clean(filepath.ToSlash(line)), "/")
		if line == "" || line == "." {
			continue
		}
		p.parts = strings.Split(line, "/")
		r.patterns = append(r.patterns, p)
	}
	return r, nil
}

// excludes reports whether rel (slash-separated, relative to the context)
// is left out of the context.
func (r ignoreRules) excludes(rel string) bool {
	parts := strings.Split(rel, "/")
	excluded := false
	for _, p := range r.patterns {
		// A pattern matching any leading directory of rel covers rel too.
		for n := 1; n <= len(parts); n++ {
			if matchParts(p.parts, parts[:n]) {
				excluded = !p.negate
				break
			}
		}
	}
	return excluded
}

func matchParts(pat, name []string) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchParts(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	if ok, _ := path.Match(pat[0], name[0]); !ok {
		return false
	}
	return matchParts(pat[1:], name[1:])
}
