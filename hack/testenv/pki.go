package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/component-base/version"
)

// pki holds the paths of everything the control plane and its clients need. Two separate CAs, as in a real
// cluster: one that the API server's serving certificate chains to, one that signs client identities.
type pki struct {
	servingCA, servingCert, servingKey string
	clientCA, adminCert, adminKey      string
	saPublic, saPrivate                string
}

type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// loadOrWritePKI keeps the certificates a previous run in the same directory generated (a restart must not
// invalidate the kubeconfigs and tokens clients hold), and generates them otherwise.
func loadOrWritePKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := pkiPaths(dir)
	if _, err := os.Stat(p.saPublic); err == nil {
		return p, nil
	}
	return writePKI(p)
}

func pkiPaths(dir string) *pki {
	return &pki{
		servingCA: filepath.Join(dir, "serving-ca.crt"), servingCert: filepath.Join(dir, "apiserver.crt"),
		servingKey: filepath.Join(dir, "apiserver.key"), clientCA: filepath.Join(dir, "client-ca.crt"),
		adminCert: filepath.Join(dir, "admin.crt"), adminKey: filepath.Join(dir, "admin.key"),
		saPublic: filepath.Join(dir, "sa.pub"), saPrivate: filepath.Join(dir, "sa.key"),
	}
}

func writePKI(p *pki) (*pki, error) {
	servingCA, err := newCA("baton-testenv-serving-ca")
	if err != nil {
		return nil, err
	}
	serving, err := newLeaf(servingCA, pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")})
	if err != nil {
		return nil, err
	}
	clientCA, err := newCA("baton-testenv-client-ca")
	if err != nil {
		return nil, err
	}
	admin, err := newLeaf(clientCA, pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		x509.ExtKeyUsageClientAuth, nil, nil)
	if err != nil {
		return nil, err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}

	writes := []struct {
		path  string
		block *pem.Block
	}{
		{p.servingCA, certPEM(servingCA)},
		{p.servingCert, certPEM(serving)},
		{p.servingKey, keyPEM(serving.key)},
		{p.clientCA, certPEM(clientCA)},
		{p.adminCert, certPEM(admin)},
		{p.adminKey, keyPEM(admin.key)},
		{p.saPrivate, keyPEM(saKey)},
		{p.saPublic, publicPEM(saKey.Public())},
	}
	for _, w := range writes {
		if w.block == nil {
			return nil, fmt.Errorf("encode %s", w.path)
		}
		if err := os.WriteFile(w.path, pem.EncodeToMemory(w.block), 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func newCA(name string) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return &keyPair{cert, key}, err
}

func newLeaf(ca *keyPair, subject pkix.Name, usage x509.ExtKeyUsage, dns []string, ips []net.IP) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return &keyPair{cert, key}, err
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func certPEM(k *keyPair) *pem.Block {
	return &pem.Block{Type: "CERTIFICATE", Bytes: k.cert.Raw}
}

func keyPEM(key crypto.Signer) *pem.Block {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil
	}
	return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
}

func publicPEM(pub crypto.PublicKey) *pem.Block {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	return &pem.Block{Type: "PUBLIC KEY", Bytes: der}
}

// writeKubeconfig embeds the certificates so the file stays valid if copied elsewhere.
func writeKubeconfig(path, server string, p *pki) error {
	read := func(f string) (string, error) {
		b, err := os.ReadFile(f)
		return base64.StdEncoding.EncodeToString(b), err
	}
	ca, err := read(p.servingCA)
	if err != nil {
		return err
	}
	cert, err := read(p.adminCert)
	if err != nil {
		return err
	}
	key, err := read(p.adminKey)
	if err != nil {
		return err
	}
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: baton-testenv
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: baton-testenv
  context:
    cluster: baton-testenv
    user: admin
    namespace: default
current-context: baton-testenv
`, server, ca, cert, key)
	return os.WriteFile(path, []byte(content), 0o600)
}

func kubeVersion() string {
	return version.Get().GitVersion
}
