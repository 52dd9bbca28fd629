package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// Default lifetimes. Node and client certificates are short enough that a
// leaked key ages out, long enough that a lab cluster does not need rotation
// tooling on day one.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultLeafValidity = 365 * 24 * time.Hour
	// clockSkew back-dates NotBefore so a peer whose clock is slightly behind
	// does not reject a certificate minted a moment ago.
	clockSkew = 5 * time.Minute
)

// CA is a cluster certificate authority: it signs node and client
// certificates, and its certificate is the only root every peer trusts.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Bundle is an issued certificate with its private key.
type Bundle struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA creates a self-signed cluster CA. name goes into the subject (for
// operators telling clusters apart); validity <= 0 means DefaultCAValidity.
func NewCA(name string, validity time.Duration) (*CA, error) {
	if validity <= 0 {
		validity = DefaultCAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "thinraft cluster CA " + name, Organization: []string{"thinraft"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		// MaxPathLen 0: the CA signs leaves only; no intermediate can be
		// minted from it and then mint nodes of its own.
		MaxPathLen:     0,
		MaxPathLenZero: true,
		KeyUsage:       x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: self-sign CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse new CA: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Pool returns a cert pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// IssueNode signs a certificate for node id, valid as both TLS server and
// client. hosts are extra DNS names or IP literals the node is dialled at;
// localhost, 127.0.0.1 and ::1 are always included.
func (ca *CA) IssueNode(id string, hosts []string, validity time.Duration) (*Bundle, error) {
	if err := ValidateName(id); err != nil {
		return nil, fmt.Errorf("pki: node id: %w", err)
	}
	dns := []string{id, "localhost"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else if h != "" {
			dns = append(dns, h)
		}
	}
	tmpl := &x509.Certificate{
		DNSNames:    dns,
		IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(RoleNode, id, tmpl, validity)
}

// IssueClient signs a client-auth-only certificate for an API client.
func (ca *CA) IssueClient(name string, validity time.Duration) (*Bundle, error) {
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("pki: client name: %w", err)
	}
	tmpl := &x509.Certificate{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	return ca.issue(RoleClient, name, tmpl, validity)
}

func (ca *CA) issue(role Role, name string, tmpl *x509.Certificate, validity time.Duration) (*Bundle, error) {
	if validity <= 0 {
		validity = DefaultLeafValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate %s key: %w", role, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.Subject = pkix.Name{CommonName: string(role) + "/" + name, Organization: []string{"thinraft"}}
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.Add(validity)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	tmpl.URIs = []*url.URL{IdentityURI(role, name)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign %s %q: %w", role, name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse issued %s %q: %w", role, name, err)
	}
	return &Bundle{Cert: cert, Key: key}, nil
}

// SelfSignedNode makes a node certificate for id that no cluster trusts: it
// is its own issuer. Tests use it as the "valid-looking but unsigned" peer.
func SelfSignedNode(id string) (*Bundle, error) {
	rogue, err := NewCA("self-signed "+id, time.Hour)
	if err != nil {
		return nil, err
	}
	// Re-issue the CA certificate itself with node SANs so the leaf is
	// literally self-signed (subject == issuer) and otherwise well formed.
	tmpl := *rogue.Cert
	tmpl.IsCA = false
	tmpl.MaxPathLenZero = false
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	tmpl.DNSNames = []string{id, "localhost"}
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	tmpl.URIs = []*url.URL{IdentityURI(RoleNode, id)}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &rogue.Key.PublicKey, rogue.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: self-sign node %q: %w", id, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse self-signed %q: %w", id, err)
	}
	return &Bundle{Cert: cert, Key: rogue.Key}, nil
}

func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 127)
	s, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("pki: serial: %w", err)
	}
	if s.Sign() == 0 {
		return nil, errors.New("pki: zero serial")
	}
	return s, nil
}
