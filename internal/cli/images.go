package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newImagesCmd(g *globals) *cobra.Command {
	var f appFlags
	c := &cobra.Command{
		Use:   "images",
		Short: "List the images the app's running instances use",
		Long:  "List the images of the app's running instances: one row per service and revision (two during a release), with the image's id and size as the runtime reports them (the process driver runs host commands: no image).",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			target, err := f.target(c.Context(), g)
			if err != nil {
				return err
			}
			list, err := g.client().Images(c.Context(), target)
			if err != nil {
				return err
			}
			if done, err := g.printData(list); done {
				return err
			}
			t := newTable(g.out(), "SERVICE", "IMAGE", "IMAGE ID", "SIZE", "REVISION", "INSTANCES")
			for _, i := range list {
				size := "-"
				if i.Size > 0 {
					size = humanBytes(i.Size)
				}
				t.row(i.Service, orDash(i.Image), orDash(shortID(i.ImageID)), size, i.Revision, i.Instances)
			}
			return t.flush()
		},
	}
	f.addTargetFlags(c)
	return c
}

// shortID shows an image id as docker does: 12 hex digits, no algorithm.
func shortID(id string) string {
	if len(id) > 7 && id[:7] == "sha256:" {
		id = id[7:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// humanBytes shows a size in powers of 1000, as docker images does.
func humanBytes(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	v, i := float64(n), 0
	for v >= 1000 && i < len(units)-1 {
		v, i = v/1000, i+1
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", v, units[i])
}
