package pki

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// CertPEM encodes a certificate as a PEM block.
func CertPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// KeyPEM encodes an ECDSA private key as a PKCS#8 PEM block.
func KeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseCertPEM decodes the first CERTIFICATE block.
func ParseCertPEM(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("pki: no CERTIFICATE block")
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("pki: parse certificate: %w", err)
			}
			return c, nil
		}
	}
}

// ParseKeyPEM decodes an ECDSA key from a PKCS#8 or SEC1 PEM block.
func ParseKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("pki: no private key block")
		}
		switch b.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("pki: parse PKCS#8 key: %w", err)
			}
			ek, ok := k.(*ecdsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("pki: key is %T, want ECDSA", k)
			}
			return ek, nil
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("pki: parse EC key: %w", err)
			}
			return k, nil
		}
	}
}

// WriteFiles writes <dir>/<base>.crt (0644) and <dir>/<base>.key (0600).
// The key is written to a temporary file and renamed so a crash never
// leaves a truncated key beside a valid certificate.
func WriteFiles(dir, base string, cert *x509.Certificate, key *ecdsa.PrivateKey) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if key != nil {
		kp, err := KeyPEM(key)
		if err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(dir, base+".key"), kp, 0o600); err != nil {
			return err
		}
	}
	return writeAtomic(filepath.Join(dir, base+".crt"), CertPEM(cert), 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("pki: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pki: rename %s: %w", tmp, err)
	}
	return nil
}

// WriteFiles writes the bundle as <dir>/<base>.crt and .key.
func (b *Bundle) WriteFiles(dir, base string) error { return WriteFiles(dir, base, b.Cert, b.Key) }

// LoadCA reads a CA certificate and key written by WriteFiles.
func LoadCA(certFile, keyFile string) (*CA, error) {
	cert, key, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("pki: %s is not a CA certificate", certFile)
	}
	return &CA{Cert: cert, Key: key}, nil
}

func loadPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cp, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	kp, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	cert, err := ParseCertPEM(cp)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certFile, err)
	}
	key, err := ParseKeyPEM(kp)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("pki: key %s does not match certificate %s", keyFile, certFile)
	}
	return cert, key, nil
}

// Identity is what a TLS endpoint needs: its own certificate and key, the
// principal they name, and the roots it trusts (the cluster CA only).
type Identity struct {
	Certificate tls.Certificate
	Leaf        *x509.Certificate
	Role        Role
	Name        string
	Roots       *x509.CertPool
}

// NewIdentity builds an Identity from an issued bundle and the CA
// certificate that peers must chain to.
func NewIdentity(b *Bundle, caCert *x509.Certificate) (*Identity, error) {
	role, name, err := IdentityOf(b.Cert)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	return &Identity{
		Certificate: tls.Certificate{Certificate: [][]byte{b.Cert.Raw}, PrivateKey: b.Key, Leaf: b.Cert},
		Leaf:        b.Cert,
		Role:        role,
		Name:        name,
		Roots:       roots,
	}, nil
}

// LoadIdentity reads a certificate, its key and the cluster CA certificate
// from PEM files and checks that the certificate chains to that CA, so a
// misconfigured node fails at start rather than at its first handshake.
func LoadIdentity(certFile, keyFile, caFile string) (*Identity, error) {
	cert, key, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	caCert, err := ParseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", caFile, err)
	}
	id, err := NewIdentity(&Bundle{Cert: cert, Key: key}, caCert)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: id.Roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("pki: %s does not chain to CA %s: %w", certFile, caFile, err)
	}
	return id, nil
}
