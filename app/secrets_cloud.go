//go:build !mcpfort_nocloud

package app

import (
	"context"
	"fmt"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/secrets"
	"github.com/mcpfort/mcpfort/secrets/aws"
	"github.com/mcpfort/mcpfort/secrets/azure"
	"github.com/mcpfort/mcpfort/secrets/gcp"
)

// CloudSecrets reports whether this build reads AWS, Azure and Google
// secret references.
const CloudSecrets = true

// cloudSecretBackends adds the AWS, Azure and Google backends the
// secrets section configures.
func cloudSecretBackends(ctx context.Context, sc config.Secrets, backends map[string]secrets.Backend) error {
	if c := sc.AWSSecrets; c != nil {
		b, err := aws.NewSecretsManager(ctx, aws.Options{Region: c.Region})
		if err != nil {
			return fmt.Errorf("secrets.awssecrets: %w", err)
		}
		backends[secrets.SchemeAWSSecrets] = b
	}
	if c := sc.AWSSSM; c != nil {
		b, err := aws.NewSSM(ctx, aws.Options{Region: c.Region})
		if err != nil {
			return fmt.Errorf("secrets.awsssm: %w", err)
		}
		backends[secrets.SchemeAWSSSM] = b
	}
	if sc.AzureKeyVault != nil {
		b, err := azure.New(azure.Options{})
		if err != nil {
			return fmt.Errorf("secrets.azurekeyvault: %w", err)
		}
		backends[secrets.SchemeAzureKeyVault] = b
	}
	if c := sc.GCPSecrets; c != nil {
		b, err := gcp.New(ctx, gcp.Options{Endpoint: c.Endpoint})
		if err != nil {
			return fmt.Errorf("secrets.gcpsecrets: %w", err)
		}
		backends[secrets.SchemeGCPSecrets] = b
	}
	return nil
}
