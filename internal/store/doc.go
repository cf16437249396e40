// Package store declares where Haven keeps desired state: the Store
// interface and its errors. Implementations: store/bolt (embedded, the
// default) and, later, store/etcd. store/storetest is the conformance suite
// every implementation passes.
//
// Observed state is never stored: it is rebuilt from the runtime (see
// package driver), so a crash cannot leave the two disagreeing.
//
// May import: spec.
package store
