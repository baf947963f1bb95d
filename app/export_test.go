package app

import "crypto/x509"

// WithCIMDTestRoots lets o's embedded authorization server fetch client ID
// metadata documents from a loopback TLS server whose certificate roots
// holds (httptest.NewTLSServer).
func WithCIMDTestRoots(o *Options, roots *x509.CertPool) { o.cimdTestRoots = roots }
