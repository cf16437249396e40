// Package soak drives Haven's metrics and log stores with ten minutes of
// heavy traffic on a simulated clock and checks, all along, that they stay
// within their configured memory and disk bounds.
package soak
