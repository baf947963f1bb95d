// Package sqldb opens the SQL database a gateway policy keeps its state in
// (tool pins, the audit log): the embedded SQLite file that the rest of
// mcpfort uses, or a PostgreSQL database shared by replicas. It applies a
// policy's own embedded, versioned migrations, recorded in a migrations
// table of the policy's own, so policies and the main store never step on
// each other's schema versions.
//
// It must not import config, app, storage or a policy.
package sqldb
