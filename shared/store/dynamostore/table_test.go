package dynamostore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
)

// tfTable is what the Terraform table declares that the store depends on.
type tfTable struct {
	HashKey, RangeKey, Billing, StreamView, TTLAttribute string
	TTLEnabled, StreamEnabled                            bool
	Attributes                                           map[string]string
	Indexes                                              map[string][3]string // hash, range, projection
}

func literal(t *testing.T, body *hclsyntax.Body, name string) cty.Value {
	t.Helper()
	a, ok := body.Attributes[name]
	require.True(t, ok, "attribute %s", name)
	v, diags := a.Expr.Value(nil)
	require.False(t, diags.HasErrors(), "attribute %s must be a literal: %s", name, diags)
	return v
}

func readTerraformTable(t *testing.T) tfTable {
	t.Helper()
	root, err := repoRoot()
	require.NoError(t, err)
	path := filepath.Join(root, "terraform", "modules", "metadata", "main.tf")
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	file, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	require.False(t, diags.HasErrors(), diags.Error())
	var table *hclsyntax.Body
	for _, b := range file.Body.(*hclsyntax.Body).Blocks {
		if b.Type == "resource" && len(b.Labels) == 2 && b.Labels[0] == "aws_dynamodb_table" {
			require.Nil(t, table, "one table")
			table = b.Body
		}
	}
	require.NotNil(t, table, "no aws_dynamodb_table in %s", path)
	str := func(body *hclsyntax.Body, name string) string { return literal(t, body, name).AsString() }
	tf := tfTable{
		HashKey: str(table, "hash_key"), RangeKey: str(table, "range_key"),
		Billing: str(table, "billing_mode"), StreamView: str(table, "stream_view_type"),
		StreamEnabled: literal(t, table, "stream_enabled").True(),
		Attributes:    map[string]string{}, Indexes: map[string][3]string{},
	}
	for _, b := range table.Blocks {
		switch b.Type {
		case "attribute":
			tf.Attributes[str(b.Body, "name")] = str(b.Body, "type")
		case "global_secondary_index":
			tf.Indexes[str(b.Body, "name")] = [3]string{str(b.Body, "hash_key"), str(b.Body, "range_key"), str(b.Body, "projection_type")}
		case "ttl":
			tf.TTLAttribute = str(b.Body, "attribute_name")
			tf.TTLEnabled = literal(t, b.Body, "enabled").True()
		}
	}
	return tf
}

// TestTableMatchesTerraform: the table the tests create (TableInput) is the
// table Terraform deploys, and the TTL attribute is the one sessions set.
func TestTableMatchesTerraform(t *testing.T) {
	tf := readTerraformTable(t)
	in := TableInput("x")

	got := tfTable{
		Billing:       string(in.BillingMode),
		StreamView:    string(in.StreamSpecification.StreamViewType),
		StreamEnabled: aws.ToBool(in.StreamSpecification.StreamEnabled),
		TTLAttribute:  attrTTL, TTLEnabled: true,
		Attributes: map[string]string{}, Indexes: map[string][3]string{},
	}
	for _, k := range in.KeySchema {
		if k.KeyType == types.KeyTypeHash {
			got.HashKey = aws.ToString(k.AttributeName)
		} else {
			got.RangeKey = aws.ToString(k.AttributeName)
		}
	}
	for _, a := range in.AttributeDefinitions {
		got.Attributes[aws.ToString(a.AttributeName)] = string(a.AttributeType)
	}
	for _, g := range in.GlobalSecondaryIndexes {
		var idx [3]string
		for _, k := range g.KeySchema {
			if k.KeyType == types.KeyTypeHash {
				idx[0] = aws.ToString(k.AttributeName)
			} else {
				idx[1] = aws.ToString(k.AttributeName)
			}
		}
		idx[2] = string(g.Projection.ProjectionType)
		got.Indexes[aws.ToString(g.IndexName)] = idx
	}
	require.Equal(t, tf, got)
	require.Equal(t, map[string][3]string{
		indexGSI1: {attrGSI1PK, attrGSI1SK, "ALL"},
		indexGSI2: {attrGSI2PK, attrGSI2SK, "ALL"},
	}, got.Indexes)
}
