package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Role is what a certificate's holder is allowed to be.
type Role string

const (
	// RoleNode may speak Raft and serve the API.
	RoleNode Role = "node"
	// RoleClient may call the API only.
	RoleClient Role = "client"
)

// uriScheme is the scheme of identity URI SANs.
const uriScheme = "thinraft"

// ErrNoIdentity means a certificate carries no thinraft identity URI (or more
// than one), so it names nobody this cluster knows.
var ErrNoIdentity = errors.New("pki: certificate carries no thinraft identity")

// IdentityURI is the URI SAN naming principal name in role.
func IdentityURI(role Role, name string) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: string(role), Path: "/" + name}
}

// IdentityOf reads the role and name from a certificate's URI SAN. It does
// not verify the certificate: callers use it on chains crypto/tls has
// already verified against the cluster CA.
func IdentityOf(cert *x509.Certificate) (Role, string, error) {
	var role Role
	var name string
	found := 0
	for _, u := range cert.URIs {
		if u.Scheme != uriScheme {
			continue
		}
		found++
		role, name = Role(u.Host), strings.TrimPrefix(u.Path, "/")
	}
	if found != 1 {
		return "", "", fmt.Errorf("%w (%d identity URIs, subject %q)", ErrNoIdentity, found, cert.Subject.CommonName)
	}
	if role != RoleNode && role != RoleClient {
		return "", "", fmt.Errorf("%w: unknown role %q", ErrNoIdentity, role)
	}
	if err := ValidateName(name); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrNoIdentity, err)
	}
	return role, name, nil
}

// ValidateName checks a node id or client name: 1-63 characters of lower
// case letters, digits, '-' and '.', starting with a letter or digit. The
// same string is a DNS SAN and a Raft server id, so it must be valid as both.
func ValidateName(s string) error {
	if s == "" || len(s) > 63 {
		return fmt.Errorf("name %q: want 1-63 characters", s)
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '-' || c == '.'))
		if !ok {
			return fmt.Errorf("name %q: character %q at %d (want [a-z0-9][a-z0-9.-]*)", s, c, i)
		}
	}
	return nil
}
