package pki

import (
	"crypto/x509"
	"errors"
	"path/filepath"
	"testing"
)

func TestIssueVerifyAndIdentity(t *testing.T) {
	ca, err := NewCA("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	node, err := ca.IssueNode("n1", []string{"10.0.0.7", "node1.example"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, host := range []string{"n1", "localhost", "127.0.0.1", "10.0.0.7", "node1.example"} {
		o := opts
		o.DNSName = host
		if _, err := node.Cert.Verify(o); err != nil {
			t.Errorf("node cert for host %s: %v", host, err)
		}
	}
	o := opts
	o.DNSName = "10.0.0.8"
	if _, err := node.Cert.Verify(o); err == nil {
		t.Error("node cert verified for a host it does not name")
	}
	role, name, err := IdentityOf(node.Cert)
	if err != nil || role != RoleNode || name != "n1" {
		t.Fatalf("IdentityOf node = %q %q %v", role, name, err)
	}

	cl, err := ca.IssueClient("alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	role, name, err = IdentityOf(cl.Cert)
	if err != nil || role != RoleClient || name != "alice" {
		t.Fatalf("IdentityOf client = %q %q %v", role, name, err)
	}
	// A client certificate must not pass as a TLS server (it cannot be a
	// Raft peer's listener).
	if _, err := cl.Cert.Verify(opts); err == nil {
		t.Error("client cert verified for server auth")
	}

	other, _ := NewCA("other", 0)
	if _, err := node.Cert.Verify(x509.VerifyOptions{Roots: other.Pool()}); err == nil {
		t.Error("node cert verified against a foreign CA")
	}
	self, err := SelfSignedNode("n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := self.Cert.Verify(opts); err == nil {
		t.Error("self-signed node cert verified against the cluster CA")
	}
	if _, _, err := IdentityOf(ca.Cert); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("IdentityOf(CA) = %v, want ErrNoIdentity", err)
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"n1", "node-1", "a", "r1.zone2"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "N1", "-a", "a/b", "a b", "é", string(make([]byte, 64))} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	ca, _ := NewCA("t", 0)
	if err := WriteFiles(dir, "ca", ca.Cert, ca.Key); err != nil {
		t.Fatal(err)
	}
	n, _ := ca.IssueNode("n2", nil, 0)
	if err := n.WriteFiles(dir, "n2"); err != nil {
		t.Fatal(err)
	}
	ca2, err := LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	if !ca2.Cert.Equal(ca.Cert) {
		t.Fatal("CA round trip changed the certificate")
	}
	id, err := LoadIdentity(filepath.Join(dir, "n2.crt"), filepath.Join(dir, "n2.key"), filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if id.Role != RoleNode || id.Name != "n2" {
		t.Fatalf("identity %q %q", id.Role, id.Name)
	}
	// A node cert loaded against the wrong CA fails at load, not at the
	// first handshake.
	other, _ := NewCA("other", 0)
	if err := WriteFiles(dir, "other", other.Cert, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(filepath.Join(dir, "n2.crt"), filepath.Join(dir, "n2.key"), filepath.Join(dir, "other.crt")); err == nil {
		t.Fatal("identity loaded against a foreign CA")
	}
	// Mismatched key.
	m, _ := ca.IssueNode("n3", nil, 0)
	if err := m.WriteFiles(dir, "n3"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(filepath.Join(dir, "n2.crt"), filepath.Join(dir, "n3.key"), filepath.Join(dir, "ca.crt")); err == nil {
		t.Fatal("identity loaded with another certificate's key")
	}
}
