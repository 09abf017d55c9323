// Package terraform_test checks the structure of the Terraform modules and roots, and of
// the workflows that deploy them, without providers or network: the properties
// `terraform validate` cannot see (least privilege, partitions, bucket protection,
// documentation) and the ones it can only see in CI (module wiring, formatting).
package terraform_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"
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
			skipWithoutTerraform(t, r.name)
			require.Empty(t, r.check(tr))
		})
	}
}

// skipWithoutTerraform skips the formatting rule where terraform is not installed (CI's
// terraform workflow runs `terraform fmt -check` itself).
func skipWithoutTerraform(t *testing.T, rule string) {
	t.Helper()
	if rule != "canonical-format" {
		return
	}
	if _, err := exec.LookPath("terraform"); err != nil {
		t.Skip(errNoTerraform)
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
			want:  "not in canonical format",
		},
		{
			name:  "module without README and outputs",
			rule:  "module-files",
			files: map[string]string{"modules/m/main.tf": "", "modules/m/variables.tf": "", "modules/m/versions.tf": ""},
			want:  "missing README.md",
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
			skipWithoutTerraform(t, tt.rule)
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
		if r.name == "canonical-format" {
			if _, err := exec.LookPath("terraform"); err != nil {
				continue
			}
		}
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

////////////////////////////////////////////////////////////////////////////////
// Workflows
////////////////////////////////////////////////////////////////////////////////

type workflow struct {
	Permissions map[string]string `yaml:"permissions"`
	Jobs        map[string]job    `yaml:"jobs"`
}

type job struct {
	Permissions map[string]string `yaml:"permissions"`
	Environment any               `yaml:"environment"`
	Steps       []step            `yaml:"steps"`
}

type step struct {
	Name string         `yaml:"name"`
	Uses string         `yaml:"uses"`
	Run  string         `yaml:"run"`
	With map[string]any `yaml:"with"`
}

func loadWorkflow(t *testing.T, name string) (workflow, string) {
	t.Helper()
	src, err := os.ReadFile("../.github/workflows/" + name)
	require.NoError(t, err)
	var wf workflow
	require.NoError(t, yaml.Unmarshal(src, &wf), name)
	require.NotEmpty(t, wf.Jobs, name)
	return wf, string(src)
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

var outputRead = regexp.MustCompile(`terraform\s+(?:-chdir=\S+\s+)?output\s+(?:-raw\s+|-json\s+)*([a-z0-9_]+)`)

// TestDeployWorkflowReadsDeclaredOutputs: every `terraform output NAME` the workflow runs
// names an output of every root it may run in (the global roots for the global job, every
// region root for the others).
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
	reads := 0
	for jobName, j := range wf.Jobs {
		roots := regionRoots
		if strings.HasPrefix(jobName, "global") {
			roots = globalRoots
		}
		for _, s := range j.Steps {
			for _, m := range outputRead.FindAllStringSubmatch(s.Run, -1) {
				reads++
				for _, root := range roots {
					require.Contains(t, tr.dirs[root].outputs(), m[1], "job %s reads output %q, which %s does not declare", jobName, m[1], root)
				}
			}
		}
	}
	require.Positive(t, reads)
}

// TestTerraformWorkflowChecksEveryRoot: the terraform workflow checks formatting and
// validates each root found by scripts/terraform-check.sh.
func TestTerraformWorkflowChecksEveryRoot(t *testing.T) {
	_, src := loadWorkflow(t, "terraform.yml")
	for _, want := range []string{"terraform-check.sh --fmt", "terraform-check.sh --list-roots", "terraform-check.sh --validate"} {
		require.Contains(t, src, want)
	}
	script, err := os.ReadFile("../scripts/terraform-check.sh")
	require.NoError(t, err)
	require.Contains(t, string(script), "init -backend=false")
	require.Contains(t, string(script), "fmt -check -recursive")

	// Roots are found, not listed: adding a region is adding a folder.
	require.NotContains(t, string(script), "regions/us-east-1")
}
