// Package auditnote lets a policy say why it acted on a call (masked an
// argument, withheld a result, hid a quarantined tool) so that the audit
// log records the reason beside the decision, without the policy importing
// the audit package: the audit middleware puts a Notes in the context and
// other policies Add to it. With no audit middleware in the chain, Add does
// nothing.
//
// Notes name what a policy did, never the data it acted on: they end up in
// the audit log, which must not hold arguments in clear.
//
// It imports only the standard library.
package auditnote
