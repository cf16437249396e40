// Package control holds Haven's use cases — deploy, scale, take down,
// report status, read logs — as the API calls them. Each use case checks
// everything that can be checked before it writes: a deploy that fails
// validation, finds a route or port conflict, or cannot get an image leaves
// the store, and so the running app, untouched.
//
// May import: spec, store, driver, agent.
package control
