package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/thinraft/thinraft/cluster/pki"
)

// tokenPrefix marks the hash scheme of a stored token, so another scheme
// can be added without ambiguity.
const tokenPrefix = "sha256:"

// HashToken is the form a token is stored in the configuration: tokens are
// long random secrets, so one unsalted SHA-256 suffices to keep a leaked
// config file from handing out working tokens.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokenPrefix + hex.EncodeToString(sum[:])
}

// parseTokenHashes decodes configured hashes.
func parseTokenHashes(hashes []string) ([][]byte, error) {
	out := make([][]byte, 0, len(hashes))
	for i, h := range hashes {
		if !strings.HasPrefix(h, tokenPrefix) {
			return nil, fmt.Errorf("api: token hash %d: want %q prefix (see api.HashToken)", i, tokenPrefix)
		}
		b, err := hex.DecodeString(strings.TrimPrefix(h, tokenPrefix))
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("api: token hash %d: not a hex SHA-256", i)
		}
		out = append(out, b)
	}
	return out, nil
}

// principal is who made a request.
type principal struct {
	kind string // "token" or "cert"
	name string
}

// authenticate accepts a request that came over TLS and carries either a
// configured bearer token or a client certificate of the cluster CA.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	if r.TLS == nil {
		return principal{}, errorf(CodeUnauthorized, "the API is served over HTTPS only")
	}
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || tok == "" {
			return principal{}, errorf(CodeUnauthorized, "malformed Authorization header; send \"Authorization: Bearer <token>\"")
		}
		if s.tokenOK(tok) {
			return principal{kind: "token"}, nil
		}
		return principal{}, errorf(CodeUnauthorized, "token refused; check the token, or use a client certificate of the cluster CA")
	}
	if len(r.TLS.PeerCertificates) > 0 {
		name, err := s.verdicts.Get(r.TLS, func() (string, error) { return s.verifyClientCert(r.TLS.PeerCertificates) })
		if err != nil {
			return principal{}, errorf(CodeUnauthorized, "client certificate refused: "+oneLine(err.Error()))
		}
		return principal{kind: "cert", name: name}, nil
	}
	return principal{}, errorf(CodeUnauthorized, "no credentials; send \"Authorization: Bearer <token>\" or a client certificate of the cluster CA")
}

// tokenOK compares the token's hash with every configured hash, without
// stopping at a match, so the time taken does not reveal which matched.
func (s *Server) tokenOK(tok string) bool {
	sum := sha256.Sum256([]byte(tok))
	ok := 0
	for _, h := range s.tokens {
		ok |= subtle.ConstantTimeCompare(sum[:], h)
	}
	return ok == 1
}

// verifyClientCert checks the chain against the cluster CA here rather than
// in the TLS handshake, so a wrong certificate gets a JSON 401 instead of
// a handshake failure, and a token alone still works over the same
// listener. Node certificates are accepted too: followers forward with
// theirs.
//
// A node certificate must chain to the cluster CA (Identity.Roots) even
// when ClientCAs names another CA for clients: only cluster members may
// forward.
func (s *Server) verifyClientCert(chain []*x509.Certificate) (string, error) {
	role, name, err := pki.IdentityOf(chain[0])
	if err != nil {
		return "", err
	}
	roots := s.cfg.ClientCAs
	if role == pki.RoleNode {
		roots = s.cfg.Identity.Roots
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "", err
	}
	return string(role) + "/" + name, nil
}
