// Package control holds Haven's use cases — deploy, scale, take down,
// report status, read logs — as the API calls them. Each use case checks
// everything that can be checked before it writes: a deploy that fails
// validation, finds a route or port conflict, or cannot get an image leaves
// the store, and so the running app, untouched.
//
// Routes are shared by every app and environment on the ingress, so a
// deploy refuses a route another one holds — compared in spec's canonical
// form, a named host belonging to one app and environment — naming the
// holder, and checks again under a lock held until its write: the
// ingress's first-wins is never what settles a conflict. Deploys store
// routes in canonical form; scale runs the same validation (and bounds);
// a rollback keeps the current routes, which are not part of a revision.
//
// The compose habits (verbs.go) are use cases of the same kind: exec
// resolves a running instance of the named app and environment before
// anything runs; restart bumps spec.Service.RestartGeneration, a new
// revision of the same spec released with the service's policy (deploys
// carry the generation over, so an unchanged file restarts nothing);
// stop and start keep the count in spec.Deployment.Stopped; images and
// port read the deployment, the revisions and what the driver runs.
//
// May import: spec, store, driver, secrets, logs, metrics, alerts.
package control
