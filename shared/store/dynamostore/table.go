package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableAPI is the part of the DynamoDB client EnsureTable uses.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// tablePollInterval is how often EnsureTable checks whether the table is active.
const tablePollInterval = 50 * time.Millisecond

// TableInput returns the CreateTable request for a table named name, with
// exactly the keys, attribute definitions, indexes and stream of
// terraform/modules/metadata, billed on demand.
func TableInput(name string) *dynamodb.CreateTableInput {
	str := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	schema := func(hash, rng string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange},
		}
	}
	gsi := func(name, hash, rng string) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{
			IndexName:  aws.String(name),
			KeySchema:  schema(hash, rng),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}
	}
	return &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			str(attrPK), str(attrSK), str(attrGSI1PK), str(attrGSI1SK), str(attrGSI2PK), str(attrGSI2SK),
		},
		KeySchema: schema(attrPK, attrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			gsi(indexGSI1, attrGSI1PK, attrGSI1SK),
			gsi(indexGSI2, attrGSI2PK, attrGSI2SK),
		},
		BillingMode: types.BillingModePayPerRequest,
		StreamSpecification: &types.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: types.StreamViewTypeNewAndOldImages,
		},
	}
}

// EnsureTable creates the table named name (TableInput) unless it exists,
// then waits until it and its indexes are active, or ctx ends. An existing
// table must have the same key schema and indexes. It is for tests and
// development: deployments get the table from terraform. It does not enable
// TTL (terraform does; dynalite has no UpdateTimeToLive), which is harmless
// because the store filters expired sessions on every read.
func EnsureTable(ctx context.Context, api TableAPI, name string) error {
	want := TableInput(name)
	_, err := api.CreateTable(ctx, want)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("ensure table %s: create: %w", name, err)
	}
	for {
		out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("ensure table %s: describe: %w", name, err)
		}
		if out.Table == nil {
			return fmt.Errorf("ensure table %s: describe returned no table", name)
		}
		if err := sameLayout(want, out.Table); err != nil {
			return fmt.Errorf("ensure table %s: %w", name, err)
		}
		if active(out.Table) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ensure table %s: waiting for it to be active: %w", name, ctx.Err())
		case <-time.After(tablePollInterval):
		}
	}
}

func active(t *types.TableDescription) bool {
	if t.TableStatus != types.TableStatusActive {
		return false
	}
	for _, g := range t.GlobalSecondaryIndexes {
		if g.IndexStatus != types.IndexStatusActive {
			return false
		}
	}
	return true
}

// sameLayout compares the keys and indexes of an existing table with want.
func sameLayout(want *dynamodb.CreateTableInput, got *types.TableDescription) error {
	keyString := func(ks []types.KeySchemaElement) string {
		s := ""
		for _, k := range ks {
			s += fmt.Sprintf("%s:%s ", aws.ToString(k.AttributeName), k.KeyType)
		}
		return s
	}
	if w, g := keyString(want.KeySchema), keyString(got.KeySchema); w != g {
		return fmt.Errorf("table key schema is %q, want %q", g, w)
	}
	var wantIdx, gotIdx []string
	for _, g := range want.GlobalSecondaryIndexes {
		wantIdx = append(wantIdx, aws.ToString(g.IndexName)+" "+keyString(g.KeySchema))
	}
	for _, g := range got.GlobalSecondaryIndexes {
		gotIdx = append(gotIdx, aws.ToString(g.IndexName)+" "+keyString(g.KeySchema))
	}
	slices.Sort(gotIdx)
	if !slices.Equal(wantIdx, gotIdx) {
		return fmt.Errorf("table indexes are %q, want %q", gotIdx, wantIdx)
	}
	return nil
}
