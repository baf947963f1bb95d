// Package users implements the "mcpfort users" administrative command:
// adding local users (argon2id password hashes), listing, disabling and
// enabling them, and resetting passwords, against any storage backend.
// Passwords are read from standard input, never from the command line
// (where other users of the machine could see them in the process list).
//
// It imports authserver (for the password hash) and storage; it must not
// import config, gateway or app.
package users
