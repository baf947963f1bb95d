// Package storagetest is the conformance suite every storage.Store backend
// must pass: the same behaviour, including the atomicity of code
// redemption and refresh-token rotation under concurrency, whatever the
// engine. A backend's test calls Run with a function that opens a fresh,
// empty store.
//
// It imports storage, oauth and go-cmp; only tests import it.
package storagetest
