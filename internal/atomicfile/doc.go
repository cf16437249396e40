// Package atomicfile writes files so that a crash, at any moment, leaves
// either the old content or the new one, never a mix: keys, certificates,
// tokens, ids and configuration all go through WriteFile.
//
// May import: stdlib only.
package atomicfile
