package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mcpfort/mcpfort/secrets"
	"go.yaml.in/yaml/v3"
)

// SecretRef says where a secret comes from; the secret itself is never
// written in the configuration file. It is written as a reference string:
//
//	env:NAME
//	file:PATH[#/json/pointer]                (relative to the file; re-read on change)
//	vault://MOUNT/PATH[?version=N][#/field]  (HashiCorp Vault or OpenBao KV v2)
//	awssecrets://NAME-OR-ARN[?region=R&version_stage=S&version_id=V][#/ptr]
//	awsssm://PARAMETER[?region=R][#/ptr]     (SSM Parameter Store, decrypted)
//	azurekeyvault://VAULT/NAME[/VERSION][#/ptr]
//	gcpsecrets://PROJECT/SECRET[?version=V][#/ptr]
//
// or, as before, as the mapping {env: NAME} or {file: PATH}. A fragment is
// an RFC 6901 JSON pointer into a secret holding JSON. Remote backends are
// configured, with the names they may read, in the secrets section.
type SecretRef struct {
	// Ref is the reference as written ("" when absent).
	Ref string
	// bad is a problem found while decoding, reported by Validate.
	bad string
}

// Set reports whether a reference was written.
func (r SecretRef) Set() bool { return r.Ref != "" || r.bad != "" }

// String returns the reference (never a secret).
func (r SecretRef) String() string { return r.Ref }

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *SecretRef) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	*r = SecretRef{}
	switch n.Kind {
	case yaml.ScalarNode:
		if !secrets.LooksLikeRef(n.Value) {
			// Never quote it: it may be the secret itself.
			r.bad = "must be a secret reference (env:NAME, file:PATH, vault://, awssecrets://, awsssm://, azurekeyvault:// or gcpsecrets://), not a literal secret"
			return nil
		}
		r.Ref = n.Value
		return nil
	case yaml.MappingNode:
		var env, file string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: %s must be a string", v.Line, k.Value)
			}
			switch k.Value {
			case "env":
				env = v.Value
			case "file":
				file = v.Value
			default:
				return fmt.Errorf("line %d: field %s not found in a secret reference (want env or file, or write the reference as a string)", k.Line, k.Value)
			}
		}
		switch {
		case (env == "") == (file == ""):
			r.bad = "set exactly one of env and file"
		case env != "":
			r.Ref = secrets.SchemeEnv + ":" + env
		default:
			r.Ref = secrets.SchemeFile + ":" + file
		}
		return nil
	}
	return fmt.Errorf("line %d: a secret reference is a string such as env:NAME or vault://secret/app#/token", n.Line)
}

// MarshalYAML implements yaml.Marshaler.
func (r SecretRef) MarshalYAML() (any, error) { return r.Ref, nil }

// Parsed returns the parsed reference; Validate has checked it.
func (r SecretRef) Parsed() secrets.Ref {
	ref, _ := secrets.ParseRef(r.Ref)
	return ref
}

// validate reports a reference that is missing, a literal, or malformed.
func (r SecretRef) validate(path string, add addFunc) {
	switch {
	case r.bad != "":
		add(path, "%s", r.bad)
	case r.Ref == "":
		add(path, "required: a secret reference such as env:NAME")
	default:
		if _, err := secrets.ParseRef(r.Ref); err != nil {
			add(path, "%v", err)
		}
	}
}

// EnvValue is a value of a local server's environment: a literal string,
// or a secret reference (a string starting with a reference scheme, or
// {env: NAME} / {file: PATH}). {literal: "env:x"} is a literal that looks
// like a reference.
type EnvValue struct {
	// Literal is the value when Secret is unset.
	Literal string
	// Secret, when set, is where the value comes from.
	Secret *SecretRef
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (e *EnvValue) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	*e = EnvValue{}
	switch {
	case n.Kind == yaml.ScalarNode && !secrets.LooksLikeRef(n.Value):
		e.Literal = n.Value
		return nil
	case n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "literal":
		if n.Content[1].Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: literal must be a string", n.Line)
		}
		e.Literal = n.Content[1].Value
		return nil
	}
	e.Secret = &SecretRef{}
	return e.Secret.UnmarshalYAML(n)
}

// Secrets configures where secret references are read from, and which
// names each backend may read.
type Secrets struct {
	// RefreshInterval is how often secrets from remote backends (vault,
	// AWS, Azure, Google) are fetched again; a rotated value is used from
	// then on, and a failed fetch keeps the last good value. Default 5m.
	RefreshInterval Duration `yaml:"refresh_interval"`
	// FileCheckInterval is how often file: secrets are read again to see
	// whether they changed. Default 10s.
	FileCheckInterval Duration `yaml:"file_check_interval"`
	// Env and File restrict env: and file: references to the names
	// (variables, absolute paths) listed. Default: any.
	Env  *SecretAllow `yaml:"env"`
	File *SecretAllow `yaml:"file"`
	// Vault reads vault:// references (HashiCorp Vault or OpenBao KV v2).
	Vault *VaultSecrets `yaml:"vault"`
	// AWSSecrets and AWSSSM read awssecrets:// (Secrets Manager) and
	// awsssm:// (SSM Parameter Store) references with the AWS SDK's
	// default credential chain (environment, IRSA web identity, EKS Pod
	// Identity, shared config, instance role).
	AWSSecrets *AWSSecrets `yaml:"awssecrets"`
	AWSSSM     *AWSSecrets `yaml:"awsssm"`
	// AzureKeyVault reads azurekeyvault:// references with
	// DefaultAzureCredential (environment, workload identity, managed
	// identity, Azure CLI).
	AzureKeyVault *SecretAllow `yaml:"azurekeyvault"`
	// GCPSecrets reads gcpsecrets:// references (Secret Manager REST API)
	// with application default credentials (GKE workload identity
	// federation, external account files, the metadata server).
	GCPSecrets *GCPSecrets `yaml:"gcpsecrets"`
}

// SecretAllow is a backend's allow-list. An entry matches a name equal to
// it, names under it when it ends with "/", or names starting with what
// precedes a final "*".
type SecretAllow struct {
	// Allow lists the names references may use. For remote backends it is
	// required: whoever edits the configuration can only name these, not
	// every secret the gateway's identity can read.
	Allow []string `yaml:"allow"`
}

// VaultSecrets configures the Vault / OpenBao backend.
type VaultSecrets struct {
	// Address is the server's URL ("https://vault.example:8200").
	// Required.
	Address string `yaml:"address"`
	// Namespace is sent with every request (X-Vault-Namespace).
	Namespace string `yaml:"namespace"`
	// CAFile holds PEM certificates trusted for the server instead of the
	// system roots.
	CAFile string `yaml:"ca_file"`
	// Auth is how the gateway logs in: exactly one method.
	Auth VaultAuth `yaml:"auth"`
	// Allow lists MOUNT/PATH names references may read. Required.
	Allow []string `yaml:"allow"`
}

// VaultAuth is one of the Vault authentication methods.
type VaultAuth struct {
	// Kubernetes logs in with the pod's service account token (workload
	// identity): {role, mount: kubernetes, token_file:
	// /var/run/secrets/kubernetes.io/serviceaccount/token}.
	Kubernetes *VaultKubernetesAuth `yaml:"kubernetes"`
	// AppRole logs in with a role id and a secret id (an env: or file:
	// reference).
	AppRole *VaultAppRoleAuth `yaml:"approle"`
	// TokenFile holds a token (Vault Agent's sink, for example), read
	// before each request.
	TokenFile string `yaml:"token_file"`
}

// VaultKubernetesAuth configures the Kubernetes auth method.
type VaultKubernetesAuth struct {
	Role      string `yaml:"role"`
	Mount     string `yaml:"mount"`
	TokenFile string `yaml:"token_file"`
}

// VaultAppRoleAuth configures the AppRole auth method.
type VaultAppRoleAuth struct {
	RoleID   string    `yaml:"role_id"`
	SecretID SecretRef `yaml:"secret_id"`
	Mount    string    `yaml:"mount"`
}

// AWSSecrets configures an AWS backend.
type AWSSecrets struct {
	// Region is used by references without ?region=. Default: the SDK's
	// (AWS_REGION, shared config).
	Region string `yaml:"region"`
	// Allow lists secret names, ARNs or parameter names references may
	// read. Required.
	Allow []string `yaml:"allow"`
}

// GCPSecrets configures the Google Secret Manager backend.
type GCPSecrets struct {
	// Endpoint overrides the API's base URL (a Private Service Connect
	// endpoint). Default https://secretmanager.googleapis.com.
	Endpoint string `yaml:"endpoint"`
	// Allow lists PROJECT/SECRET names references may read. Required.
	Allow []string `yaml:"allow"`
}

// NamedSecret is one secret reference of the configuration and the path
// of its field.
type NamedSecret struct {
	Field string
	Ref   SecretRef
}

// SecretRefs lists every secret reference in the configuration, in file
// order, with its field path.
func (c *Config) SecretRefs() []NamedSecret {
	var out []NamedSecret
	add := func(field string, r *SecretRef) {
		if r != nil && r.Set() {
			out = append(out, NamedSecret{Field: field, Ref: *r})
		}
	}
	add("state.database_password", c.State.DatabasePassword)
	add("state.redis_password", c.State.RedisPassword)
	for i := range c.Sessions.Secrets {
		add(fmt.Sprintf("sessions.secrets[%d]", i), &c.Sessions.Secrets[i])
	}
	for i, is := range c.Auth.Issuers {
		if is.Introspection != nil {
			add(fmt.Sprintf("auth.issuers[%d].introspection.client_secret", i), &is.Introspection.ClientSecret)
		}
	}
	as := c.AuthServer
	add("authserver.key_encryption_key", as.KeyEncryptionKey)
	for i := range as.PreviousKeyEncryptionKeys {
		add(fmt.Sprintf("authserver.previous_key_encryption_keys[%d]", i), &as.PreviousKeyEncryptionKeys[i])
	}
	for i, cl := range as.Clients {
		add(fmt.Sprintf("authserver.clients[%d].secret", i), cl.Secret)
	}
	if as.Upstream != nil {
		add("authserver.upstream.client_secret", &as.Upstream.ClientSecret)
	}
	add("audit.key", c.Audit.Key)
	for _, o := range []struct {
		at      string
		headers map[string]SecretRef
	}{{"observability.tracing", c.Observability.Tracing.Headers}, {"observability.metrics", c.Observability.Metrics.Headers}} {
		keys := make([]string, 0, len(o.headers))
		for k := range o.headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			r := o.headers[k]
			add(o.at+".headers."+k, &r)
		}
	}
	for i := range c.Servers {
		s := &c.Servers[i]
		at := fmt.Sprintf("servers[%d]", i)
		if ag := s.Aggregate; ag != nil {
			for j := range ag.Upstreams {
				ms := s.MemberServer(j)
				upstreamRefs(&ms, fmt.Sprintf("%s.aggregate.upstreams[%d]", at, j), add)
			}
			continue
		}
		upstreamRefs(s, at, add)
	}
	return out
}

// upstreamRefs lists the secret references of a server's upstream.
func upstreamRefs(s *Server, at string, add func(string, *SecretRef)) {
	{
		if u := s.Remote(); u != nil {
			kind := "http"
			if s.SSE != nil {
				kind = "sse"
			}
			add(at+"."+kind+".bearer_token", u.BearerToken)
			if u.TokenExchange != nil {
				add(at+"."+kind+".token_exchange.client_secret", &u.TokenExchange.ClientSecret)
			}
			if u.UserOAuth != nil {
				add(at+"."+kind+".user_oauth.client_secret", u.UserOAuth.ClientSecret)
			}
		}
		if st := s.Stdio; st != nil {
			keys := make([]string, 0, len(st.Env))
			for k := range st.Env {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				add(at+".stdio.env."+k, st.Env[k].Secret)
			}
		}
	}
}

// allow returns a scheme's allow-list and whether the scheme's backend
// is configured.
func (s Secrets) allow(scheme string) (list []string, configured bool) {
	switch scheme {
	case secrets.SchemeEnv:
		if s.Env == nil {
			return nil, true
		}
		return s.Env.Allow, true
	case secrets.SchemeFile:
		if s.File == nil {
			return nil, true
		}
		return s.File.Allow, true
	case secrets.SchemeVault:
		if s.Vault != nil {
			return s.Vault.Allow, true
		}
	case secrets.SchemeAWSSecrets:
		if s.AWSSecrets != nil {
			return s.AWSSecrets.Allow, true
		}
	case secrets.SchemeAWSSSM:
		if s.AWSSSM != nil {
			return s.AWSSSM.Allow, true
		}
	case secrets.SchemeAzureKeyVault:
		if s.AzureKeyVault != nil {
			return s.AzureKeyVault.Allow, true
		}
	case secrets.SchemeGCPSecrets:
		if s.GCPSecrets != nil {
			return s.GCPSecrets.Allow, true
		}
	}
	return nil, false
}

// AllowLists returns every configured scheme's allow-list, as
// secrets.Options.Allow takes them (env and file only when restricted).
func (s Secrets) AllowLists() map[string][]string {
	out := map[string][]string{}
	for _, sc := range secrets.Schemes {
		list, ok := s.allow(sc)
		if ok && (list != nil || (sc != secrets.SchemeEnv && sc != secrets.SchemeFile)) {
			out[sc] = list
		}
	}
	return out
}

// validateSecrets checks the secrets section and every reference against
// it: a remote scheme needs its backend configured, every reference must be
// in its backend's allow-list.
func (c *Config) validateSecrets(add addFunc) {
	s := c.Secrets
	if s.RefreshInterval.D() < 0 || s.FileCheckInterval.D() < 0 {
		add("secrets", "refresh_interval and file_check_interval must not be negative")
	}
	for _, sc := range []string{secrets.SchemeVault, secrets.SchemeAWSSecrets, secrets.SchemeAWSSSM, secrets.SchemeAzureKeyVault, secrets.SchemeGCPSecrets} {
		if list, ok := s.allow(sc); ok && len(list) == 0 {
			add("secrets."+sc+".allow", "required: the names references may read")
		}
	}
	if v := s.Vault; v != nil {
		if !strings.HasPrefix(v.Address, "https://") && !strings.HasPrefix(v.Address, "http://") {
			add("secrets.vault.address", "must be an http(s) URL, got %q", v.Address)
		}
		n := 0
		if k := v.Auth.Kubernetes; k != nil {
			n++
			if k.Role == "" {
				add("secrets.vault.auth.kubernetes.role", "required")
			}
		}
		if ar := v.Auth.AppRole; ar != nil {
			n++
			if ar.RoleID == "" {
				add("secrets.vault.auth.approle.role_id", "required")
			}
			ar.SecretID.validate("secrets.vault.auth.approle.secret_id", add)
			if sc := ar.SecretID.Parsed().Scheme; sc != "" && sc != secrets.SchemeEnv && sc != secrets.SchemeFile {
				add("secrets.vault.auth.approle.secret_id", "must be an env: or file: reference")
			}
		}
		if v.Auth.TokenFile != "" {
			n++
		}
		if n != 1 {
			add("secrets.vault.auth", "set exactly one of kubernetes, approle and token_file")
		}
	}
	if c.Audit.Key != nil && c.Audit.KeyFile != "" {
		add("audit.key", "set at most one of key and key_file")
	}
	for _, ns := range c.SecretRefs() {
		ns.Ref.validate(ns.Field, add)
		ref, err := secrets.ParseRef(ns.Ref.Ref)
		if ns.Ref.bad != "" || err != nil {
			continue
		}
		list, ok := s.allow(ref.Scheme)
		switch {
		case !ok:
			add(ns.Field, "%s references need secrets.%s configured", ref.Scheme, ref.Scheme)
		case (list != nil || (ref.Scheme != secrets.SchemeEnv && ref.Scheme != secrets.SchemeFile)) && len(list) > 0 && !secrets.Allowed(list, ref.AllowName(c.dir)):
			add(ns.Field, "%s is not in secrets.%s.allow", ref.AllowName(c.dir), ref.Scheme)
		}
	}
}
