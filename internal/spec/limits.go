package spec

// Upper bounds on the shape of one app. Haven runs every instance on one
// machine and answers `status` and `ps` from one pass over all of them, so
// an unbounded app is a way to exhaust the server's memory (each desired
// instance costs it state in the agent, the driver and the store) and to
// make every reader wait. The numbers are well above what a small team's
// largest real app needs on one node, and low enough that `haven status`
// and `haven ps` of the largest allowed app answer within a second on a
// 2-core machine (TestLargestAppStatusWithinASecond in test/e2e measures
// it). Validate enforces them, so API deploys and scale hit them as well as
// compose files.
const (
	// MaxServices is the most services one app may have: a large
	// microservice app on one node has a few dozen.
	MaxServices = 100
	// MaxReplicas is the most replicas one service may ask for: more
	// instances of one program than a node has cores many times over.
	MaxReplicas = 100
	// MaxInstances is the most instances one app may ask for in all (the
	// sum of its services' replicas), the bound that keeps the server's
	// memory and one status pass small.
	MaxInstances = 500
	// MaxRoutes is the most ingress routes one service may have.
	MaxRoutes = 20
)
