package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorpusDeployNeedsLocalImage deploys a compose file from the corpus
// (test/testdata/compose-corpus/redmine, modelled on the Docker official
// image's example) to a real server with the Docker driver. It validates,
// but this machine has neither of its images and no registry: the deploy
// is refused with the message that says to build or load the image, exit
// code 2, and nothing is stored or started.
func TestCorpusDeployNeedsLocalImage(t *testing.T) {
	file, err := filepath.Abs("../testdata/compose-corpus/redmine/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	images := []string{"redmine", "mysql:8.0"}
	for _, img := range images {
		if exec.Command("docker", "image", "inspect", img).Run() == nil {
			t.Fatalf("image %s is present on this machine: this test needs a corpus image that is not; remove it (docker rmi %s)", img, img)
		}
	}
	h := newHaven(t, "docker")
	removeContainers(t, "redmine")
	h.startServer()

	h.mustRun("validate", "-f", file)
	r := h.run("deploy", "-f", file)
	if r.code != 2 {
		t.Fatalf("deploy of a file whose images are missing: want exit 2, got %s", r)
	}
	t.Logf("deploy refused as it should be:\n%s", r.stderr)
	named := false
	for _, img := range images {
		if strings.Contains(r.stderr, `image "`+img+`" is not present locally and no registry answered; build it or load it`) {
			named = true
		}
	}
	if !named {
		t.Errorf("message does not name a missing image of the file with how to fix it:\n%s", r.stderr)
	}
	if lines := strings.Count(strings.TrimSpace(r.stderr), "\n"); lines > 6 {
		t.Errorf("message is %d lines; want one clear message:\n%s", lines+1, r.stderr)
	}
	if st := h.status(); len(st) != 0 {
		t.Errorf("a refused deploy stored an app: %+v", st)
	}
	if ids := containers(t, "redmine"); len(ids) != 0 {
		t.Errorf("a refused deploy left %d containers", len(ids))
	}
}
