// Package env reads the mall demo's configuration from environment variables.
//
// It is shared by the api, worker and web programs of examples/mall and
// imports only the standard library.
package env

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultDatabaseURL is used when DATABASE_URL is unset; it matches the
// service names of examples/mall/compose.yaml.
const DefaultDatabaseURL = "postgres://mall@postgres:5432/mall?sslmode=disable"

// String returns the value of key, or def when it is unset or empty.
func String(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Duration returns key parsed as a Go duration ("5s"), or def when unset.
func Duration(key string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 5s", key, v)
	}
	return d, nil
}

// DatabaseURL returns the PostgreSQL connection URL: DATABASE_URL (or
// DefaultDatabaseURL), with the password replaced by the contents of the file
// named by DATABASE_PASSWORD_FILE when that is set. The password file is how
// compose secrets are delivered (/run/secrets/<name>).
func DatabaseURL() (string, error) {
	raw := String("DATABASE_URL", DefaultDatabaseURL)
	file := os.Getenv("DATABASE_PASSWORD_FILE")
	if file == "" {
		return raw, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("DATABASE_PASSWORD_FILE: %w", err)
	}
	password := strings.TrimRight(string(b), "\r\n")
	u, err := url.Parse(raw)
	if err != nil {
		// The URL may hold a password, so the error must not repeat it.
		return "", fmt.Errorf("DATABASE_URL is not a valid URL")
	}
	user := "postgres"
	if u.User != nil && u.User.Username() != "" {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, password)
	return u.String(), nil
}
