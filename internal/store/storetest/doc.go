// Package storetest is the conformance suite for store.Store
// implementations: every Store must pass Run.
//
// May import: spec, store.
package storetest
