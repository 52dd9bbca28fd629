package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/thinraft/thinraft/cluster/client"
)

// EnvConfig names the client configuration file when --cluster-config is
// not given.
const EnvConfig = "THINRAFT_CONFIG"

// ClientConfig is client.json, which `thinraft cluster init` writes next to
// the cluster's certificates: how the CLI reaches and authenticates to the
// cluster. Relative paths are relative to the file's directory.
type ClientConfig struct {
	// Endpoints are API addresses ("host:port") of any nodes.
	Endpoints []string `json:"endpoints"`
	CAFile    string   `json:"ca_file"`
	// TokenFile holds the bearer token ("" to authenticate by certificate).
	TokenFile string `json:"token_file,omitempty"`
	CertFile  string `json:"cert_file,omitempty"`
	KeyFile   string `json:"key_file,omitempty"`
}

// WriteClientConfig writes cfg to path (0600: it points at the token).
func WriteClientConfig(path string, cfg ClientConfig) error {
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("client config: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("client config: %w", err)
	}
	return nil
}

// configPath picks the client configuration: the flag, else $THINRAFT_CONFIG,
// else ~/.config/thinraft/client.json.
func configPath(flag string, getenv func(string) string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := getenv(EnvConfig); p != "" {
		return p, nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", usagef("no client configuration: pass --cluster-config FILE or set %s (thinraft cluster init writes DIR/client.json)", EnvConfig)
	}
	return filepath.Join(home, ".config", "thinraft", "client.json"), nil
}

// LoadClientConfig reads path into a client configuration.
func LoadClientConfig(path string) (client.Config, error) {
	var out client.Config
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, usagef("no client configuration at %s: run `thinraft cluster init --dir DIR` and pass --cluster-config DIR/client.json or set %s", path, EnvConfig)
	}
	if err != nil {
		return out, failf("client configuration: %v", err)
	}
	var cc ClientConfig
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cc); err != nil {
		return out, failf("client configuration %s: %v; fix the JSON (fields endpoints, ca_file, token_file, cert_file, key_file)", path, err)
	}
	if len(cc.Endpoints) == 0 {
		return out, failf("client configuration %s lists no endpoints; add the API address of any node", path)
	}
	if cc.CAFile == "" {
		return out, failf("client configuration %s names no ca_file; add the cluster CA's path", path)
	}
	dir := filepath.Dir(path)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	caPEM, err := os.ReadFile(rel(cc.CAFile))
	if err != nil {
		return out, failf("client configuration %s: CA: %v", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return out, failf("client configuration %s: %s holds no PEM certificate", path, rel(cc.CAFile))
	}
	out = client.Config{Endpoints: cc.Endpoints, CA: pool}
	if cc.TokenFile != "" {
		tok, err := os.ReadFile(rel(cc.TokenFile))
		if err != nil {
			return out, failf("client configuration %s: token: %v", path, err)
		}
		out.Token = strings.TrimSpace(string(tok))
	}
	if cc.CertFile != "" || cc.KeyFile != "" {
		crt, err := tls.LoadX509KeyPair(rel(cc.CertFile), rel(cc.KeyFile))
		if err != nil {
			return out, failf("client configuration %s: client certificate: %v", path, err)
		}
		out.Certificate = &crt
	}
	if out.Token == "" && out.Certificate == nil {
		return out, failf("client configuration %s has neither token_file nor cert_file/key_file; add one", path)
	}
	return out, nil
}
