// Package web holds the authorization server's server-rendered pages
// (sign-in, consent, consent management, errors) as embedded html/template
// files and their static assets. The pages work without JavaScript and
// load nothing from other origins, so they run under a strict Content
// Security Policy (default-src 'none'; style-src 'self').
//
// The page data types are the contract between the templates and the
// authserver package, which fills them. It imports only the standard
// library; it must not import authserver, storage or config.
package web
