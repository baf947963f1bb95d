// Package azure reads secrets from Azure Key Vault with the Azure SDK and
// DefaultAzureCredential: environment (service principal), workload
// identity (AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID on
// AKS), managed identity, then the Azure CLI and Developer CLI. It
// implements secrets.Backend for azurekeyvault:// references.
package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/mcpfort/mcpfort/secrets"
)

// Options configure a Backend.
type Options struct {
	// HTTPClient sends the Key Vault and token requests. If nil, the
	// SDK's.
	HTTPClient *http.Client
}

// Backend reads Key Vault secrets, one client per vault. It is safe for
// concurrent use.
type Backend struct {
	cred azcore.TokenCredential
	opts azsecrets.ClientOptions

	mu      sync.Mutex
	clients map[string]*azsecrets.Client
}

var _ secrets.Backend = (*Backend)(nil)

// New builds DefaultAzureCredential (it does not fetch a token yet).
func New(o Options) (*Backend, error) {
	var co azcore.ClientOptions
	if o.HTTPClient != nil {
		co.Transport = o.HTTPClient
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: co})
	if err != nil {
		return nil, fmt.Errorf("azure: DefaultAzureCredential: %w", err)
	}
	return newBackend(cred, azsecrets.ClientOptions{ClientOptions: co}), nil
}

func newBackend(cred azcore.TokenCredential, opts azsecrets.ClientOptions) *Backend {
	opts.Retry = policy.RetryOptions{MaxRetries: 2}
	return &Backend{cred: cred, opts: opts, clients: map[string]*azsecrets.Client{}}
}

// VaultURL is the URL of VAULT: a name ("kv1") is
// https://kv1.vault.azure.net; a host name ("kv1.vault.azure.cn") is taken
// as it is, for the other clouds.
func VaultURL(vault string) string {
	if strings.Contains(vault, ".") {
		return "https://" + vault
	}
	return "https://" + vault + ".vault.azure.net"
}

func (b *Backend) client(vault string) (*azsecrets.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.clients[vault]; c != nil {
		return c, nil
	}
	opts := b.opts
	c, err := azsecrets.NewClient(VaultURL(vault), b.cred, &opts)
	if err != nil {
		return nil, fmt.Errorf("azure: key vault client: %w", err)
	}
	b.clients[vault] = c
	return c, nil
}

// Fetch reads VAULT/NAME[/VERSION] (latest without a version).
func (b *Backend) Fetch(ctx context.Context, ref secrets.Ref) ([]byte, error) {
	parts := strings.SplitN(ref.Name, "/", 3)
	if len(parts) < 2 {
		return nil, errors.New("azure: want VAULT/NAME[/VERSION]")
	}
	version := ""
	if len(parts) == 3 {
		version = parts[2]
	}
	c, err := b.client(parts[0])
	if err != nil {
		return nil, err
	}
	resp, err := c.GetSecret(ctx, parts[1], version, nil)
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			// Not the whole error: it quotes the response body.
			return nil, fmt.Errorf("azure key vault: get secret: %s (status %d)", re.ErrorCode, re.StatusCode)
		}
		return nil, fmt.Errorf("azure key vault: get secret: %w", err)
	}
	if resp.Value == nil {
		return nil, errors.New("azure key vault: the secret has no value")
	}
	return []byte(*resp.Value), nil
}
