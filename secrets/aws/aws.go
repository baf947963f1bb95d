// Package aws reads secrets from AWS Secrets Manager and SSM Parameter
// Store with aws-sdk-go-v2 and its default credential chain: environment
// keys, IRSA web identity (AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE),
// EKS Pod Identity (AWS_CONTAINER_CREDENTIALS_FULL_URI), shared
// configuration and the instance role. Endpoints follow the SDK's
// settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SECRETS_MANAGER,
// AWS_ENDPOINT_URL_SSM, VPC endpoints in shared config).
//
// It implements secrets.Backend twice: SecretsManager for awssecrets://
// references and SSM for awsssm:// references.
package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/mcpfort/mcpfort/secrets"
)

// Options configure both backends.
type Options struct {
	// Region is used for references without ?region=. If empty, the
	// SDK's (AWS_REGION, shared configuration).
	Region string
	// HTTPClient makes the requests. If nil, the SDK's.
	HTTPClient *http.Client
}

func load(ctx context.Context, o Options) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(o.HTTPClient))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws: load configuration: %w", err)
	}
	return cfg, nil
}

// SecretsManager reads awssecrets:// references: GetSecretValue of the
// name or ARN, with ?version_stage= (default AWSCURRENT) or ?version_id=.
type SecretsManager struct{ c *secretsmanager.Client }

var _ secrets.Backend = (*SecretsManager)(nil)

// NewSecretsManager loads the SDK configuration (it does not call AWS).
func NewSecretsManager(ctx context.Context, o Options) (*SecretsManager, error) {
	cfg, err := load(ctx, o)
	if err != nil {
		return nil, err
	}
	return &SecretsManager{c: secretsmanager.NewFromConfig(cfg)}, nil
}

// Fetch implements secrets.Backend.
func (b *SecretsManager) Fetch(ctx context.Context, ref secrets.Ref) ([]byte, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref.Name)}
	if v := ref.Params["version_stage"]; v != "" {
		in.VersionStage = aws.String(v)
	}
	if v := ref.Params["version_id"]; v != "" {
		in.VersionId = aws.String(v)
	}
	out, err := b.c.GetSecretValue(ctx, in, region(ref))
	if err != nil {
		// The SDK's operation errors name the operation, status and AWS
		// error code, never the secret.
		return nil, fmt.Errorf("aws secrets manager: %w", err)
	}
	switch {
	case out.SecretString != nil:
		return []byte(*out.SecretString), nil
	case out.SecretBinary != nil:
		return out.SecretBinary, nil
	}
	return nil, errors.New("aws secrets manager: the secret version has no value")
}

// SSM reads awsssm:// references: GetParameter of the name, decrypted
// (SecureString).
type SSM struct{ c *ssm.Client }

var _ secrets.Backend = (*SSM)(nil)

// NewSSM loads the SDK configuration (it does not call AWS).
func NewSSM(ctx context.Context, o Options) (*SSM, error) {
	cfg, err := load(ctx, o)
	if err != nil {
		return nil, err
	}
	return &SSM{c: ssm.NewFromConfig(cfg)}, nil
}

// Fetch implements secrets.Backend.
func (b *SSM) Fetch(ctx context.Context, ref secrets.Ref) ([]byte, error) {
	out, err := b.c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(ref.Name), WithDecryption: aws.Bool(true)}, regionSSM(ref))
	if err != nil {
		return nil, fmt.Errorf("aws ssm: %w", err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return nil, errors.New("aws ssm: the parameter has no value")
	}
	return []byte(*out.Parameter.Value), nil
}

func region(ref secrets.Ref) func(*secretsmanager.Options) {
	return func(o *secretsmanager.Options) {
		if r := ref.Params["region"]; r != "" {
			o.Region = r
		}
	}
}

func regionSSM(ref secrets.Ref) func(*ssm.Options) {
	return func(o *ssm.Options) {
		if r := ref.Params["region"]; r != "" {
			o.Region = r
		}
	}
}
