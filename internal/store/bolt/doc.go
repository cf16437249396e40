// Package bolt is the embedded Store: one bbolt file in the data directory,
// transactional and crash-safe (bbolt writes copy-on-write pages and an
// fsynced meta page, so kill -9 at any moment leaves the last committed
// transaction).
//
// May import: spec, store, go.etcd.io/bbolt.
package bolt
