package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// BuildScratchImage builds an image FROM scratch whose only file is the
// static binary at binaryPath, installed as /app and run as its ENTRYPOINT,
// tags it tag and returns its image ID. It exists for tests and demos: with
// no registry reachable, a static Go binary in a scratch image is the one
// image that can always be made (scratch needs no pull). It talks to the
// Engine named by the environment, like New.
func BuildScratchImage(ctx context.Context, binaryPath, tag string) (imageID string, err error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return "", fmt.Errorf("build scratch image %s: %w", tag, err)
	}
	defer cli.Close()
	dockerfile := "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"
	id, err := buildFiles(ctx, cli, tag, dockerfile, map[string]string{"app": binaryPath})
	if err != nil {
		return "", fmt.Errorf("build scratch image %s: %w", tag, err)
	}
	return id, nil
}

// buildFiles builds tag from a Dockerfile and files (name in the context →
// host path), all put at the root of an in-memory context.
func buildFiles(ctx context.Context, cli *client.Client, tag, dockerfile string, files map[string]string) (string, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, r io.Reader, size int64) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: size, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := add("Dockerfile", 0o644, bytes.NewReader([]byte(dockerfile)), int64(len(dockerfile))); err != nil {
		return "", err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f, err := os.Open(files[n])
		if err != nil {
			return "", err
		}
		st, err := f.Stat()
		if err == nil {
			err = add(n, 0o755, f, st.Size())
		}
		f.Close()
		if err != nil {
			return "", fmt.Errorf("add %s: %w", files[n], err)
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return buildImage(ctx, cli, &buf, build.ImageBuildOptions{Tags: []string{tag}})
}
