// Package terraform_test checks the structure of the Terraform modules and roots, and of
// the workflows that deploy them, without providers or network: the properties
// `terraform validate` cannot see (least privilege, partitions, bucket protection,
// documentation) and the ones it can only see in CI (module wiring, formatting).
package terraform_test

import (
	"os"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
	"go.yaml.in/yaml/v3"

	"github.com/livestack/livestack/shared/media/motion"
	"github.com/livestack/livestack/shared/media/snapshot"
	"github.com/livestack/livestack/shared/recording"
)

func loadRepoTree(t *testing.T) *tree {
	t.Helper()
	tr, err := loadTree(os.DirFS("."))
	require.NoError(t, err)
	return tr
}

// TestTreeFollowsRules runs every rule on terraform/ itself.
func TestTreeFollowsRules(t *testing.T) {
	tr := loadRepoTree(t)
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			require.Empty(t, r.check(tr))
		})
	}
}

// TestRulesCatchViolations gives every rule a fixture it must reject, so that a rule that
// silently stops matching is noticed.
func TestRulesCatchViolations(t *testing.T) {
	module := func(files map[string]string) map[string]string {
		out := map[string]string{
			"modules/m/README.md":    "# m\n",
			"modules/m/versions.tf":  "",
			"modules/m/outputs.tf":   "",
			"modules/m/variables.tf": "",
			"modules/m/main.tf":      "",
		}
		for name, src := range files {
			out[name] = src
		}
		return out
	}
	tests := []struct {
		name  string
		rule  string
		files map[string]string
		want  string
	}{
		{
			name:  "file not formatted",
			rule:  "canonical-format",
			files: module(map[string]string{"modules/m/main.tf": "locals {\nx=1\n}\n"}),
			want:  "modules/m/main.tf: not in canonical format",
		},
		{
			name:  "root file with unaligned arguments",
			rule:  "canonical-format",
			files: map[string]string{"root/main.tf": "locals {\n  a = 1\n  bcd = 2\n}\n"},
			want:  "root/main.tf: not in canonical format",
		},
		{
			name:  "module without README",
			rule:  "module-files",
			files: map[string]string{"modules/m/main.tf": "", "modules/m/variables.tf": "", "modules/m/versions.tf": "", "modules/m/outputs.tf": ""},
			want:  "modules/m: missing README.md",
		},
		{
			name:  "module without outputs.tf",
			rule:  "module-files",
			files: map[string]string{"modules/m/main.tf": "", "modules/m/variables.tf": "", "modules/m/versions.tf": "", "modules/m/README.md": "# m\n"},
			want:  "modules/m: missing outputs.tf",
		},
		{
			name:  "module without variables.tf",
			rule:  "module-files",
			files: map[string]string{"modules/m/main.tf": "", "modules/m/outputs.tf": "", "modules/m/versions.tf": "", "modules/m/README.md": "# m\n"},
			want:  "modules/m: missing variables.tf",
		},
		{
			name:  "module without versions.tf",
			rule:  "module-files",
			files: map[string]string{"modules/m/main.tf": "", "modules/m/variables.tf": "", "modules/m/outputs.tf": "", "modules/m/README.md": "# m\n"},
			want:  "modules/m: missing versions.tf",
		},
		{
			name:  "folder under modules/ without Terraform",
			rule:  "module-files",
			files: map[string]string{"modules/m/README.md": "# m\n"},
			want:  "modules/m: no Terraform configuration",
		},
		{
			name:  "variable declared in main.tf",
			rule:  "module-files",
			files: module(map[string]string{"modules/m/main.tf": "variable \"x\" {\n  type = string\n}\n"}),
			want:  `variable "x" is declared outside variables.tf`,
		},
		{
			name:  "output declared in main.tf",
			rule:  "module-files",
			files: module(map[string]string{"modules/m/main.tf": "output \"x\" {\n  value = 1\n}\n"}),
			want:  `output "x" is declared outside outputs.tf`,
		},
		{
			name:  "versions.tf without required_version",
			rule:  "module-files",
			files: module(nil),
			want:  "modules/m: versions.tf sets no required_version",
		},
		{
			name: "provider used without a version constraint",
			rule: "module-files",
			files: module(map[string]string{
				"modules/m/versions.tf": "terraform {\n  required_version = \">= 1.11\"\n}\n",
				"modules/m/main.tf":     "data \"aws_partition\" \"current\" {}\n",
			}),
			want: `provider "aws" has no source and version constraint`,
		},
		{
			name:  "variable without description",
			rule:  "variable-docs",
			files: module(map[string]string{"modules/m/variables.tf": "variable \"x\" {\n  type = string\n}\n"}),
			want:  "has no description",
		},
		{
			name:  "variable without type",
			rule:  "variable-docs",
			files: module(map[string]string{"modules/m/variables.tf": "variable \"x\" {\n  description = \"x\"\n}\n"}),
			want:  "has no type",
		},
		{
			name:  "output without description",
			rule:  "output-docs",
			files: module(map[string]string{"modules/m/outputs.tf": "output \"x\" {\n  value = 1\n}\n"}),
			want:  "has no description",
		},
		{
			name: "module call passes an unknown variable",
			rule: "module-call-arguments",
			files: module(map[string]string{
				"modules/m/variables.tf": "variable \"a\" {\n  description = \"a\"\n  type        = string\n  default     = \"\"\n}\n",
				"root/main.tf":           "module \"m\" {\n  source = \"../modules/m\"\n  b      = 1\n}\n",
			}),
			want: `passes "b", which modules/m does not declare`,
		},
		{
			name: "module call misses a required variable",
			rule: "module-call-arguments",
			files: module(map[string]string{
				"modules/m/variables.tf": "variable \"a\" {\n  description = \"a\"\n  type        = string\n}\n",
				"root/main.tf":           "module \"m\" {\n  source = \"../modules/m\"\n}\n",
			}),
			want: `does not pass "a", which modules/m requires`,
		},
		{
			name: "module call to a missing module",
			rule: "module-call-arguments",
			files: map[string]string{
				"root/main.tf": "module \"m\" {\n  source = \"../modules/nope\"\n}\n",
			},
			want: "is not a module of this tree",
		},
		{
			name: "reference to an output the module lacks",
			rule: "module-output-references",
			files: module(map[string]string{
				"modules/m/outputs.tf": "output \"id\" {\n  description = \"id\"\n  value       = 1\n}\n",
				"root/main.tf":         "module \"m\" {\n  source = \"../modules/m\"\n}\n\noutput \"x\" {\n  description = \"x\"\n  value       = module.m.name\n}\n",
			}),
			want: `modules/m has no output "name"`,
		},
		{
			name:  "unused variable",
			rule:  "no-unused-declarations",
			files: module(map[string]string{"modules/m/variables.tf": "variable \"x\" {\n  description = \"x\"\n  type        = string\n}\n"}),
			want:  `variable "x" is never used`,
		},
		{
			name:  "unused data source",
			rule:  "no-unused-declarations",
			files: module(map[string]string{"modules/m/main.tf": "data \"aws_partition\" \"current\" {}\n"}),
			want:  `data "aws_partition" "current" is never used`,
		},
		{
			name: "policy document with a wildcard action",
			rule: "iam-no-wildcard-action",
			files: module(map[string]string{"modules/m/main.tf": `data "aws_iam_policy_document" "task" {
  statement {
    actions   = ["s3:GetObject", "*"]
    resources = ["*"]
  }
}
`}),
			want: `policy document "task" has the action "*"`,
		},
		{
			name: "dynamic statement with a wildcard action",
			rule: "iam-no-wildcard-action",
			files: module(map[string]string{"modules/m/main.tf": `data "aws_iam_policy_document" "task" {
  dynamic "statement" {
    for_each = [1]

    content {
      actions   = "*"
      resources = ["*"]
    }
  }
}
`}),
			want: `policy document "task" has the action "*"`,
		},
		{
			name: "jsonencode'd policy with a wildcard action",
			rule: "iam-no-wildcard-action",
			files: module(map[string]string{"modules/m/main.tf": `resource "aws_iam_role_policy" "task" {
  policy = jsonencode({
    Statement = [{ Effect = "Allow", Action = "*", Resource = "*" }]
  })
}
`}),
			want: `policy object has the action "*"`,
		},
		{
			name: "JSON heredoc policy with a wildcard action",
			rule: "iam-no-wildcard-action",
			files: module(map[string]string{"modules/m/main.tf": `resource "aws_iam_role_policy" "task" {
  policy = <<-JSON
    {"Statement": [{"Effect": "Allow", "Action": ["s3:*", "*"], "Resource": "*"}]}
  JSON
}
`}),
			want: `policy JSON has the action "*"`,
		},
		{
			name: "policy document with a literal partition",
			rule: "no-hardcoded-partition",
			files: module(map[string]string{"modules/m/main.tf": `data "aws_iam_policy_document" "task" {
  statement {
    actions   = ["s3:GetObject"]
    resources = ["arn:aws:s3:::${var.bucket}/*"]
  }
}
`}),
			want: "a literal partition in an ARN",
		},
		{
			name: "policy document with a literal region",
			rule: "no-hardcoded-partition",
			files: module(map[string]string{"modules/m/main.tf": `data "aws_iam_policy_document" "task" {
  statement {
    actions   = ["logs:PutLogEvents"]
    resources = ["arn:${data.aws_partition.current.partition}:logs:eu-west-1:${data.aws_caller_identity.current.account_id}:log-group:x:*"]
  }
}
`}),
			want: "a literal region in an ARN",
		},
		{
			name: "policy document with a literal account ID",
			rule: "no-hardcoded-partition",
			files: module(map[string]string{"modules/m/main.tf": `data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = ["123456789012"]
    }
  }
}
`}),
			want: "a literal account ID",
		},
		{
			name: "jsonencode'd policy with a literal partition",
			rule: "no-hardcoded-partition",
			files: module(map[string]string{"modules/m/main.tf": `resource "aws_iam_role_policy" "task" {
  policy = jsonencode({
    Statement = [{ Effect = "Allow", Action = "sqs:SendMessage", Resource = "arn:aws-cn:sqs:${var.region}:${var.account}:q" }]
  })
}
`}),
			want: "a literal partition in an ARN",
		},
		{
			name:  "literal partition",
			rule:  "no-hardcoded-partition",
			files: module(map[string]string{"modules/m/main.tf": "locals {\n  arn = \"arn:aws:s3:::bucket/*\"\n}\n"}),
			want:  "a literal partition",
		},
		{
			name:  "literal region in an ARN",
			rule:  "no-hardcoded-partition",
			files: module(map[string]string{"modules/m/main.tf": "locals {\n  arn = \"arn:${local.partition}:ecs:us-east-1:${local.account_id}:cluster/x\"\n}\n"}),
			want:  "a literal region",
		},
		{
			name:  "literal account ID",
			rule:  "no-hardcoded-partition",
			files: module(map[string]string{"modules/m/main.tf": "locals {\n  arn = \"arn:${local.partition}:iam::123456789012:role/x\"\n}\n"}),
			want:  "a literal account ID",
		},
		{
			name:  "service principal built by hand",
			rule:  "no-hardcoded-partition",
			files: module(map[string]string{"modules/m/main.tf": "locals {\n  principal = \"ecs-tasks.amazonaws.com\"\n}\n"}),
			want:  "a literal amazonaws.com",
		},
		{
			name: "bucket without public access block",
			rule: "s3-bucket-protection",
			files: module(map[string]string{"modules/m/main.tf": `resource "aws_s3_bucket" "this" {
  bucket = "x"
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
}
`}),
			want: "no public access block",
		},
		{
			name: "bucket with a partial public access block",
			rule: "s3-bucket-protection",
			files: module(map[string]string{"modules/m/main.tf": `resource "aws_s3_bucket" "this" {
  bucket = "x"
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = false
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
}
`}),
			want: "no public access block with all four settings true",
		},
		{
			name: "bucket without encryption",
			rule: "s3-bucket-protection",
			files: module(map[string]string{"modules/m/main.tf": `resource "aws_s3_bucket" "this" {
  bucket = "x"
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
`}),
			want: "no default encryption",
		},
		{
			name: "public-read ACL",
			rule: "s3-bucket-protection",
			files: module(map[string]string{"modules/m/main.tf": `resource "aws_s3_bucket_acl" "this" {
  bucket = "x"
  acl    = "public-read"
}
`}),
			want: `grants "public-read"`,
		},
		{
			name:  "codec without validation",
			rule:  "closed-set-validation",
			files: module(map[string]string{"modules/m/variables.tf": "variable \"default_codec\" {\n  description = \"c\"\n  type        = string\n}\n"}),
			want:  `"default_codec" takes a closed set`,
		},
		{
			name:  "renditions without validation",
			rule:  "closed-set-validation",
			files: module(map[string]string{"modules/m/variables.tf": "variable \"default_renditions\" {\n  description = \"r\"\n  type        = list(string)\n}\n"}),
			want:  `"default_renditions" takes a closed set`,
		},
		{
			name: "region root for another region, without locking",
			rule: "region-roots",
			files: module(map[string]string{
				"modules/region/main.tf":      "",
				"modules/region/variables.tf": "variable \"region\" {\n  description = \"r\"\n  type        = string\n}\n",
				"regions/eu-west-1/main.tf": `terraform {
  backend "s3" {
    key     = "x"
    encrypt = true
  }
}

provider "aws" {
  region = "eu-west-1"
}

module "region" {
  source = "../../modules/region"
  region = "us-east-1"
}
`,
			}),
			want: `is called with region "us-east-1"`,
		},
		{
			name: "region root copied without changing its state key",
			rule: "region-roots",
			files: map[string]string{
				"regions/eu-west-1/versions.tf":      "terraform {\n  backend \"s3\" {\n    key          = \"livestack/regions/eu-west-1.tfstate\"\n    encrypt      = true\n    use_lockfile = true\n  }\n}\n",
				"regions/ap-northeast-1/versions.tf": "terraform {\n  backend \"s3\" {\n    key          = \"livestack/regions/eu-west-1.tfstate\"\n    encrypt      = true\n    use_lockfile = true\n  }\n}\n",
			},
			want: `regions/eu-west-1: state key "livestack/regions/eu-west-1.tfstate" is also the key of regions/ap-northeast-1`,
		},
		{
			name: "region root without a backend",
			rule: "region-roots",
			files: module(map[string]string{
				"regions/eu-west-1/main.tf": "provider \"aws\" {\n  region = \"eu-west-1\"\n}\n",
			}),
			want: `want exactly one backend "s3"`,
		},
	}
	byName := map[string]rule{}
	for _, r := range rules {
		byName[r.name] = r
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := byName[tt.rule]
			require.True(t, ok, "unknown rule %q", tt.rule)
			covered[tt.rule] = true
			fsys := fstest.MapFS{}
			for name, src := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(src)}
			}
			tr, err := loadTree(fsys)
			require.NoError(t, err)
			findings := r.check(tr)
			require.NotEmpty(t, findings)
			require.Contains(t, strings.Join(findings, "\n"), tt.want)
		})
	}
	for _, r := range rules {
		require.True(t, covered[r.name], "rule %q has no failing fixture", r.name)
	}
}

// TestRulesAcceptCleanModule guards against rules that flag correct code: a small module
// written the way the real ones are passes every rule.
func TestRulesAcceptCleanModule(t *testing.T) {
	fsys := fstest.MapFS{
		"modules/m/README.md": {Data: []byte("# m\n")},
		"modules/m/versions.tf": {Data: []byte(`terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
  }
}
`)},
		"modules/m/variables.tf": {Data: []byte(`variable "name" {
  description = "Name of the bucket"
  type        = string
}

variable "default_codec" {
  description = "Codec"
  type        = string
  default     = "libx264"

  validation {
    condition     = contains(["libx264", "libx265"], var.default_codec)
    error_message = "Use arn:aws: never; amazonaws.com is fine in messages."
  }
}
`)},
		"modules/m/main.tf": {Data: []byte(`data "aws_partition" "current" {}

resource "aws_s3_bucket" "this" {
  bucket = "${var.name}-${var.default_codec}"
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
}

data "aws_iam_policy_document" "read" {
  statement {
    actions   = ["s3:GetObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${aws_s3_bucket.this.id}/*"]
  }
}
`)},
		"modules/m/outputs.tf": {Data: []byte(`output "policy" {
  description = "Read policy"
  value       = data.aws_iam_policy_document.read.json
}
`)},
	}
	tr, err := loadTree(fsys)
	require.NoError(t, err)
	for _, r := range rules {
		require.Empty(t, r.check(tr), r.name)
	}
}

// TestExpectedModulesAndRoots pins the layout the deploy workflow and the docs rely on.
func TestExpectedModulesAndRoots(t *testing.T) {
	tr := loadRepoTree(t)
	for _, name := range []string{
		"modules/network", "modules/ingest", "modules/processing", "modules/distribution",
		"modules/metadata", "modules/api", "modules/events", "modules/storage", "modules/frontend",
		"modules/observability", "modules/service", "modules/registry", "modules/secrets",
		"modules/deploy-access", "modules/region", "modules/global",
		"global", "global-cn", "bootstrap", "regions/cn-northwest-1",
	} {
		require.Contains(t, tr.dirs, name)
	}
}

// TestClosedSetsAreValidated pins the variables holding the closed sets of the channel
// model, so that renaming one away from the closed-set rule's pattern is noticed.
func TestClosedSetsAreValidated(t *testing.T) {
	tr := loadRepoTree(t)
	tests := []struct{ module, variable string }{
		{"modules/processing", "worker_task_sizes"},
		{"modules/processing", "record_task_size"},
		{"modules/processing", "transcode_task_size"},
		{"modules/processing", "default_codec"},
		{"modules/processing", "default_renditions"},
		{"modules/processing", "worker_capacity_provider"},
		{"modules/events", "record_task_size"},
		{"modules/events", "transcode_task_size"},
		{"modules/api", "authorizer_type"},
		{"modules/distribution", "price_class"},
		{"modules/storage", "lifecycle_rules"},
		{"modules/observability", "log_retention_days"},
	}
	for _, tt := range tests {
		t.Run(tt.module+"/"+tt.variable, func(t *testing.T) {
			v, ok := tr.dirs[tt.module].variables()[tt.variable]
			require.True(t, ok)
			validations := 0
			for _, b := range v.Body.Blocks {
				if b.Type == "validation" {
					validations++
				}
			}
			require.Positive(t, validations)
		})
	}
}

// TestMetadataTableDesign pins the table the Go store is written against.
func TestMetadataTableDesign(t *testing.T) {
	tr := loadRepoTree(t)
	tables := tr.dirs["modules/metadata"].blocksOf("resource", "aws_dynamodb_table")
	require.Len(t, tables, 1)
	body := tables[0].Body
	str := func(attr string) string {
		a, ok := body.Attributes[attr]
		require.True(t, ok, attr)
		s, ok := literalString(a.Expr)
		require.True(t, ok, attr)
		return s
	}
	require.Equal(t, "pk", str("hash_key"))
	require.Equal(t, "sk", str("range_key"))
	require.Equal(t, "NEW_AND_OLD_IMAGES", str("stream_view_type"))
	require.Equal(t, "PAY_PER_REQUEST", str("billing_mode"))

	attributes := map[string]string{}
	indexes := map[string][2]string{}
	var ttl string
	for _, b := range body.Blocks {
		get := func(attr string) string {
			s, _ := literalString(b.Body.Attributes[attr].Expr)
			return s
		}
		switch b.Type {
		case "attribute":
			attributes[get("name")] = get("type")
		case "global_secondary_index":
			indexes[get("name")] = [2]string{get("hash_key"), get("range_key")}
		case "ttl":
			ttl = get("attribute_name")
		}
	}
	require.Equal(t, map[string]string{"pk": "S", "sk": "S", "gsi1pk": "S", "gsi1sk": "S", "gsi2pk": "S", "gsi2sk": "S"}, attributes)
	require.Equal(t, map[string][2]string{"gsi1": {"gsi1pk", "gsi1sk"}, "gsi2": {"gsi2pk", "gsi2sk"}}, indexes)
	require.Equal(t, "ttl", ttl)
}

// TestPushKeyReaders pins, for every task or function that is given the push key secret
// (the worker signs its renditions' push URLs, the gateway and ingestauth derive the
// callback secret), both halves: the environment variable naming the secret and a
// policy statement allowing secretsmanager:GetSecretValue on exactly that secret.
// The secrets use the AWS managed key, so no kms:Decrypt is needed.
func TestPushKeyReaders(t *testing.T) {
	tr := loadRepoTree(t)
	envRef := regexp.MustCompile(`\bLIVESTACK_PUSH_KEY_SECRET\s*=\s*var\.push_key_secret_arn\b`)
	tests := []struct{ module, policy string }{
		{"modules/processing", "worker_task"},
		{"modules/ingest", "gateway"},
		{"modules/api", "ingestauth"},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			d := tr.dirs[tt.module]
			require.NotNil(t, d)
			require.Contains(t, d.variables(), "push_key_secret_arn")
			require.True(t, envRef.Match(d.files["main.tf"]), "main.tf does not set LIVESTACK_PUSH_KEY_SECRET = var.push_key_secret_arn")

			docs := d.blocksOf("data", "aws_iam_policy_document", tt.policy)
			require.Len(t, docs, 1)
			var granted [][]string
			for _, st := range docs[0].Body.Blocks {
				if st.Type != "statement" {
					continue
				}
				actions, diags := st.Body.Attributes["actions"].Expr.Value(nil)
				require.False(t, diags.HasErrors(), diags.Error())
				has := false
				for it := actions.ElementIterator(); it.Next(); {
					_, v := it.Element()
					has = has || v.AsString() == "secretsmanager:GetSecretValue"
				}
				if !has {
					continue
				}
				resources := st.Body.Attributes["resources"]
				require.NotNil(t, resources)
				for _, ref := range resources.Expr.Variables() {
					granted = append(granted, attrNames(ref))
				}
			}
			require.Equal(t, [][]string{{"var", "push_key_secret_arn"}}, granted)
		})
	}

	// The region root hands every reader the secret the global root replicated here.
	region := tr.dirs["modules/region"]
	for _, call := range []string{"processing", "ingest", "api"} {
		b := region.moduleBlock(call)
		require.NotNil(t, b, call)
		a, ok := b.Body.Attributes["push_key_secret_arn"]
		require.True(t, ok, call)
		refs := a.Expr.Variables()
		require.Len(t, refs, 1, call)
		require.Equal(t, []string{"data", "aws_secretsmanager_secret", "push_key", "arn"}, attrNames(refs[0]), call)
	}
}

// TestMediaPrefixesMatchGo pins the blob key prefixes the Go code writes (recordings,
// HLS VOD, snapshots, motion clips) to the ones the bucket's default lifecycle rules,
// the workers' write policy and the API's read/delete policy are written for: an object
// outside them would be neither tiered nor expired, and AccessDenied to its writer.
func TestMediaPrefixesMatchGo(t *testing.T) {
	tr := loadRepoTree(t)
	goPrefixes := []string{recording.MP4KeyPrefix, recording.HLSKeyPrefix, snapshot.KeyPrefix, motion.KeyPrefix}
	require.True(t, strings.HasPrefix(snapshot.SnapshotKey("c", "b", 1), snapshot.KeyPrefix))
	require.True(t, strings.HasPrefix(motion.ClipKey("c", "b", 1), motion.KeyPrefix))

	value := func(module string, attr *hclsyntax.Attribute) cty.Value {
		require.NotNil(t, attr, module)
		v, diags := attr.Expr.Value(nil)
		require.False(t, diags.HasErrors(), "%s: %s", module, diags.Error())
		return v
	}
	strs := func(v cty.Value) []string {
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if v.Type().IsObjectType() || v.Type().IsMapType() {
				e = k
			}
			out = append(out, e.AsString())
		}
		return out
	}

	storage := tr.dirs["modules/storage"].variables()["lifecycle_rules"]
	require.NotNil(t, storage)
	require.ElementsMatch(t, goPrefixes, strs(value("storage", storage.Body.Attributes["default"])))

	api := tr.dirs["modules/api"].variables()["media_prefixes"]
	require.NotNil(t, api)
	require.ElementsMatch(t, goPrefixes, strs(value("api", api.Body.Attributes["default"])))

	var workers *hclsyntax.Attribute
	for _, b := range tr.dirs["modules/processing"].blocksOf("locals") {
		if a, ok := b.Body.Attributes["worker_write_prefixes"]; ok {
			workers = a
		}
	}
	require.ElementsMatch(t, goPrefixes, strs(value("processing", workers)))
}

////////////////////////////////////////////////////////////////////////////////
// Workflows
////////////////////////////////////////////////////////////////////////////////

type workflow struct {
	On          any               `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Env         map[string]string `yaml:"env"`
	Jobs        map[string]job    `yaml:"jobs"`
}

type job struct {
	Name        string            `yaml:"name"`
	If          string            `yaml:"if"`
	Needs       any               `yaml:"needs"`
	RunsOn      any               `yaml:"runs-on"`
	Uses        string            `yaml:"uses"` // a reusable workflow
	Permissions map[string]string `yaml:"permissions"`
	Environment any               `yaml:"environment"`
	Strategy    struct {
		Matrix map[string]any `yaml:"matrix"`
	} `yaml:"strategy"`
	Steps []step `yaml:"steps"`
}

type step struct {
	ID   string            `yaml:"id"`
	Name string            `yaml:"name"`
	If   string            `yaml:"if"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]any    `yaml:"with"`
	Env  map[string]string `yaml:"env"`
}

const workflowDir = "../.github/workflows"

// loadWorkflow parses a workflow with a YAML parser (go.yaml.in/yaml/v3) and checks the
// shape GitHub Actions needs: triggers, jobs, each job with a runner and steps (or a
// reusable workflow), each step running a command or an action.
func loadWorkflow(t *testing.T, name string) (workflow, string) {
	t.Helper()
	src, err := os.ReadFile(path.Join(workflowDir, name))
	require.NoError(t, err)
	var wf workflow
	require.NoError(t, yaml.Unmarshal(src, &wf), name)
	require.NotNil(t, wf.On, "%s: no triggers (on:)", name)
	require.NotEmpty(t, wf.Jobs, name)
	for jobName, j := range wf.Jobs {
		if j.Uses != "" {
			continue
		}
		require.NotNil(t, j.RunsOn, "%s: job %s has no runs-on", name, jobName)
		require.NotEmpty(t, j.Steps, "%s: job %s has no steps", name, jobName)
		for i, s := range j.Steps {
			require.True(t, (s.Uses == "") != (s.Run == ""), "%s: job %s step %d (%s) needs exactly one of uses and run", name, jobName, i, s.Name)
		}
		for _, needed := range needsOf(j) {
			require.Contains(t, wf.Jobs, needed, "%s: job %s needs an unknown job", name, jobName)
		}
	}
	return wf, string(src)
}

func needsOf(j job) []string {
	switch n := j.Needs.(type) {
	case string:
		return []string{n}
	case []any:
		var out []string
		for _, item := range n {
			s, _ := item.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// TestWorkflowsParse loads every workflow: a YAML or shape error in any of them fails here
// rather than on GitHub.
func TestWorkflowsParse(t *testing.T) {
	entries, err := os.ReadDir(workflowDir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yml") || strings.HasSuffix(e.Name(), ".yaml") {
			names = append(names, e.Name())
		}
	}
	require.Contains(t, names, "ci.yml")
	require.Contains(t, names, "deploy.yml")
	for _, name := range names {
		t.Run(name, func(t *testing.T) { loadWorkflow(t, name) })
	}
}

// TestDeployWorkflowUsesOIDC: the deploy workflow assumes roles through GitHub's OIDC
// token and never reads long-lived keys.
func TestDeployWorkflowUsesOIDC(t *testing.T) {
	wf, src := loadWorkflow(t, "deploy.yml")
	for _, forbidden := range []string{"aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		require.NotContains(t, src, forbidden)
	}
	assumes := 0
	for name, j := range wf.Jobs {
		for _, s := range j.Steps {
			if !strings.HasPrefix(s.Uses, "aws-actions/configure-aws-credentials@") {
				continue
			}
			assumes++
			require.Contains(t, s.With, "role-to-assume", "job %s", name)
			permissions := j.Permissions
			if permissions == nil {
				permissions = wf.Permissions
			}
			require.Equal(t, "write", permissions["id-token"], "job %s assumes a role without id-token: write", name)
		}
	}
	require.Positive(t, assumes)
}

// TestDeployWorkflowApprovals: every job that applies runs in an environment (the
// approval gate and the apply role's trust condition).
func TestDeployWorkflowApprovals(t *testing.T) {
	wf, _ := loadWorkflow(t, "deploy.yml")
	applies := 0
	for name, j := range wf.Jobs {
		for _, s := range j.Steps {
			if strings.Contains(s.Run, "terraform") && strings.Contains(s.Run, " apply") {
				applies++
				require.NotNil(t, j.Environment, "job %s applies without an environment", name)
			}
		}
	}
	require.Positive(t, applies)
}

// outputRead matches `terraform [-chdir=DIR] output [-raw|-json] NAME`; DIR may be quoted
// and hold an expression with spaces (-chdir="terraform/${{ matrix.root }}").
var outputRead = regexp.MustCompile(`terraform\s+(?:-chdir=(?:"[^"]*"|\S+)\s+)?output\s+(?:-raw\s+|-json\s+)*([a-z0-9_]+)`)

// TestDeployWorkflowReadsDeclaredOutputs: every `terraform output NAME` the workflow runs
// names an output of every root it may run in (the global roots for the global job, every
// region root for the others), and where that root output passes a module output on
// (module.region.NAME), the module declares it.
func TestDeployWorkflowReadsDeclaredOutputs(t *testing.T) {
	tr := loadRepoTree(t)
	wf, _ := loadWorkflow(t, "deploy.yml")
	var regionRoots, globalRoots []string
	for _, name := range tr.names {
		switch {
		case strings.HasPrefix(name, "regions/"):
			regionRoots = append(regionRoots, name)
		case name == "global" || name == "global-cn":
			globalRoots = append(globalRoots, name)
		}
	}
	require.NotEmpty(t, regionRoots)
	require.Len(t, globalRoots, 2)
	read := map[string]bool{} // "job output"
	for jobName, j := range wf.Jobs {
		roots := regionRoots
		if strings.HasPrefix(jobName, "global") {
			roots = globalRoots
		}
		for _, s := range j.Steps {
			for _, m := range outputRead.FindAllStringSubmatch(s.Run, -1) {
				read[jobName+" "+m[1]] = true
				for _, root := range roots {
					d := tr.dirs[root]
					o, ok := d.module.Outputs[m[1]]
					require.True(t, ok, "job %s reads output %q, which %s does not declare", jobName, m[1], root)
					requireModuleOutputExists(t, tr, d, o.Name)
				}
			}
		}
	}
	// The reads this test must see; a change of quoting that hid them from outputRead
	// would otherwise pass silently.
	for _, want := range []string{
		"global registry_id", "global repository_urls",
		"regions cluster_name", "regions gateway_service_name", "regions edge_service_name",
		"regions frontend_bucket_name", "regions frontend_distribution_id", "regions api_url",
		"regions playback_base_url", "regions push_base_url", "regions cognito_user_pool_id", "regions cognito_client_id",
	} {
		require.True(t, read[want], "the deploy workflow no longer reads %q (or the test no longer sees it)", want)
	}
}

// requireModuleOutputExists: the root output named output, if its value is a module
// output (module.M.NAME), names one the called module declares.
func requireModuleOutputExists(t *testing.T, tr *tree, root *dir, output string) {
	t.Helper()
	for _, b := range root.blocksOf("output", output) {
		for _, ref := range b.Body.Attributes["value"].Expr.Variables() {
			names := attrNames(ref)
			if names[0] != "module" || len(names) < 3 {
				continue
			}
			target, _, ok := tr.calledModule(root, names[1])
			require.True(t, ok, "%s: output %q reads module.%s, which is not a local module call", root.name, output, names[1])
			require.Contains(t, target.module.Outputs, names[2], "%s: output %q reads module.%s.%s, which %s does not declare", root.name, output, names[1], names[2], target.name)
		}
	}
}

// TestCIWorkflow: ci.yml is the one CI workflow: make test (which runs the Go tests,
// these included), lint, terraform fmt -check, terraform validate per root after
// init -backend=false (the roots found by scripts/terraform-check.sh, so a new region
// folder is validated without editing the workflow), tflint, and the frontend build.
func TestCIWorkflow(t *testing.T) {
	wf, _ := loadWorkflow(t, "ci.yml")
	runs := map[string]string{} // command -> job
	var frontend *step
	for jobName, j := range wf.Jobs {
		for i, s := range j.Steps {
			runs[s.Run] = jobName
			if strings.Contains(s.Run, "npm run build") {
				frontend = &j.Steps[i]
			}
		}
	}
	hasRun := func(substr string) string {
		for run, jobName := range runs {
			if strings.Contains(run, substr) {
				return jobName
			}
		}
		return ""
	}
	ciRun, err := os.ReadFile("../.ci/run")
	require.NoError(t, err)
	require.Contains(t, string(ciRun), "make test")
	require.True(t, hasRun("make test") != "" || hasRun(".ci/run") != "", "ci.yml does not run make test")
	require.NotEmpty(t, hasRun("make lint"), "ci.yml does not run make lint")
	require.NotEmpty(t, hasRun("terraform-check.sh --fmt"), "ci.yml does not run terraform fmt -check")
	require.NotEmpty(t, hasRun("terraform-check.sh --list-roots --json"), "ci.yml does not list the roots")
	require.NotEmpty(t, hasRun("terraform-check.sh --lint"), "ci.yml does not run tflint")

	validateJob := hasRun("terraform-check.sh --validate")
	require.NotEmpty(t, validateJob, "ci.yml does not validate the roots")
	require.Contains(t, wf.Jobs[validateJob].Strategy.Matrix, "root", "validate runs once per root (matrix.root)")

	require.NotNil(t, frontend, "ci.yml does not build the frontend")
	require.Contains(t, frontend.Run, "npm ci")
	require.Contains(t, frontend.If+frontend.Run, "frontend/package.json", "the frontend build is conditional on frontend/package.json")

	script, err := os.ReadFile("../scripts/terraform-check.sh")
	require.NoError(t, err)
	require.Contains(t, string(script), "init -backend=false")
	require.Contains(t, string(script), "fmt -check -recursive")
	// Roots are found, not listed: adding a region is adding a folder.
	require.NotContains(t, string(script), "regions/us-east-1")

	// One CI workflow: no other workflow runs the checks.
	entries, err := os.ReadDir(workflowDir)
	require.NoError(t, err)
	for _, e := range entries {
		if e.Name() == "ci.yml" {
			continue
		}
		src, err := os.ReadFile(path.Join(workflowDir, e.Name()))
		require.NoError(t, err)
		for _, check := range []string{"terraform-check.sh --fmt", "terraform-check.sh --validate", "make lint"} {
			require.NotContains(t, string(src), check, "%s duplicates ci.yml", e.Name())
		}
	}
}

// TestRootsFoundByScript: scripts/terraform-check.sh --list-roots (the list CI validates
// one by one) is exactly the roots of the tree: every folder with .tf files outside
// modules/, so a new region folder is validated without editing anything else.
func TestRootsFoundByScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	tr := loadRepoTree(t)
	var want []string
	for _, name := range tr.names {
		if !strings.HasPrefix(name, "modules/") {
			want = append(want, name)
		}
	}
	require.Contains(t, want, "regions/cn-northwest-1")
	out, err := exec.Command("bash", "../scripts/terraform-check.sh", "--list-roots").Output()
	require.NoError(t, err)
	require.Equal(t, want, strings.Fields(string(out)))
}
