// Package secrets resolves secret references (env:NAME, file:PATH and
// references into secret managers) into values that keep themselves out of
// logs, errors and encoded output, and keeps those values fresh: files are
// re-read when they change and secret-manager entries on a refresh
// interval, the last good value staying in use when a refresh fails.
//
// The reference syntax, one for every secret-bearing field:
//
//	env:NAME
//	file:PATH[#/json/pointer]
//	vault://MOUNT/PATH[?version=N][#/json/pointer]
//	awssecrets://NAME-OR-ARN[?region=R&version_stage=S&version_id=V][#/json/pointer]
//	awsssm://PARAMETER-NAME[?region=R][#/json/pointer]
//	azurekeyvault://VAULT/NAME[/VERSION][#/json/pointer]
//	gcpsecrets://PROJECT/SECRET[?version=V][#/json/pointer]
//
// A fragment is an RFC 6901 JSON pointer into a secret holding a JSON
// object; the member it names must be a string (or a number or boolean,
// taken as written).
//
// The package itself reads environment variables and files; the
// secret-manager backends live in sub-packages (secrets/vault,
// secrets/aws, secrets/azure, secrets/gcp) and implement Backend. It must
// not import config or app.
package secrets
