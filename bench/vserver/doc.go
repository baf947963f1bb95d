// Package vserver measures what a virtual server (servers[].aggregate)
// costs against a single route, in one process and one run: see
// README.md.
package vserver
