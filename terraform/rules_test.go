package terraform_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/hashicorp/terraform-config-inspect/tfconfig"
	"github.com/zclconf/go-cty/cty"
)

// tree is every Terraform file under a directory (terraform/ itself, or a fixture),
// parsed, and grouped by the directory (module or root) it belongs to.
type tree struct {
	fsys  fs.FS
	dirs  map[string]*dir
	names []string // sorted directory names
}

// dir is one module or root: its files and the blocks they declare, both as HCL syntax
// (expressions, references, nested blocks) and as terraform-config-inspect reads the
// module (its interface: variables and whether they are required, outputs, module calls
// and their sources, provider requirements).
type dir struct {
	name    string
	files   map[string][]byte // file name -> source
	bodies  map[string]*hclsyntax.Body
	blocks  []*hclsyntax.Block // top-level blocks of every file
	hasFile map[string]bool    // every file in the directory, .tf or not
	module  *tfconfig.Module
}

// rule is one property the Terraform tree must have. check returns one line per violation.
type rule struct {
	name  string
	check func(t *tree) []string
}

// rules are run on the real tree (which must pass them all) and on one failing fixture each.
var rules = []rule{
	{"canonical-format", checkFormat},
	{"module-files", checkModuleFiles},
	{"variable-docs", checkVariableDocs},
	{"output-docs", checkOutputDocs},
	{"module-call-arguments", checkModuleCallArguments},
	{"module-output-references", checkModuleOutputReferences},
	{"no-unused-declarations", checkUnusedDeclarations},
	{"iam-no-wildcard-action", checkIAMWildcardActions},
	{"no-hardcoded-partition", checkHardcodedIdentifiers},
	{"s3-bucket-protection", checkBuckets},
	{"closed-set-validation", checkClosedSets},
	{"region-roots", checkRegionRoots},
}

// moduleMetaArguments are the arguments of a module block that are not input variables.
var moduleMetaArguments = []string{"source", "version", "count", "for_each", "providers", "depends_on"}

func loadTree(fsys fs.FS) (*tree, error) {
	t := &tree{fsys: fsys, dirs: map[string]*dir{}}
	err := fs.WalkDir(fsys, ".", func(p string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if entry.IsDir() {
			if strings.HasPrefix(entry.Name(), ".") && p != "." {
				return fs.SkipDir // .terraform and the like
			}
			return nil
		}
		name := path.Dir(p)
		d := t.dirs[name]
		if d == nil {
			d = &dir{name: name, files: map[string][]byte{}, bodies: map[string]*hclsyntax.Body{}, hasFile: map[string]bool{}}
			t.dirs[name] = d
		}
		d.hasFile[path.Base(p)] = true
		if !strings.HasSuffix(p, ".tf") {
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		file, diags := hclsyntax.ParseConfig(src, p, hcl.InitialPos)
		if diags.HasErrors() {
			return fmt.Errorf("parse %s: %s", p, diags.Error())
		}
		body := file.Body.(*hclsyntax.Body)
		d.files[path.Base(p)] = src
		d.bodies[path.Base(p)] = body
		d.blocks = append(d.blocks, body.Blocks...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for name, d := range t.dirs {
		if len(d.files) == 0 {
			delete(t.dirs, name) // a folder without Terraform (READMEs, docs)
			continue
		}
		module, diags := tfconfig.LoadModuleFromFilesystem(tfconfig.WrapFS(fsys), name)
		if diags.HasErrors() {
			return nil, fmt.Errorf("inspect %s: %w", name, diags.Err())
		}
		d.module = module
		t.names = append(t.names, name)
	}
	sort.Strings(t.names)
	return t, nil
}

// modules are the directories directly under modules/.
func (t *tree) modules() []*dir {
	var out []*dir
	for _, name := range t.names {
		if path.Dir(name) == "modules" {
			out = append(out, t.dirs[name])
		}
	}
	return out
}

// moduleDirNames lists every directory directly under modules/, with or without .tf files.
func (t *tree) moduleDirNames() []string {
	entries, err := fs.ReadDir(t.fsys, "modules")
	if err != nil {
		return nil
	}
	var out []string
	for _, entry := range entries {
		if entry.IsDir() {
			out = append(out, path.Join("modules", entry.Name()))
		}
	}
	return out
}

func (d *dir) blocksOf(blockType string, labels ...string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range d.blocks {
		if b.Type != blockType || len(b.Labels) < len(labels) {
			continue
		}
		if slices.Equal(b.Labels[:len(labels)], labels) {
			out = append(out, b)
		}
	}
	return out
}

func (d *dir) variables() map[string]*hclsyntax.Block {
	out := map[string]*hclsyntax.Block{}
	for _, b := range d.blocksOf("variable") {
		out[b.Labels[0]] = b
	}
	return out
}

// moduleBlock returns the module block named name (its arguments, which
// terraform-config-inspect does not record).
func (d *dir) moduleBlock(name string) *hclsyntax.Block {
	if blocks := d.blocksOf("module", name); len(blocks) > 0 {
		return blocks[0]
	}
	return nil
}

func pos(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }

func srcPos(p tfconfig.SourcePos) string { return fmt.Sprintf("%s:%d", p.Filename, p.Line) }

// literalString returns the value of a string literal (a quoted string without
// interpolation), and whether the expression is one.
func literalString(expr hclsyntax.Expression) (string, bool) {
	switch e := expr.(type) {
	case *hclsyntax.TemplateExpr:
		if !e.IsStringLiteral() {
			return "", false
		}
	case *hclsyntax.LiteralValueExpr:
	default:
		return "", false
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// templateText renders a template with every interpolation replaced by "${}", so that
// hand-built identifiers can be matched around the parts that are computed.
func templateText(e *hclsyntax.TemplateExpr) string {
	var b strings.Builder
	for _, part := range e.Parts {
		if s, ok := literalString(part); ok {
			b.WriteString(s)
		} else {
			b.WriteString("${}")
		}
	}
	return b.String()
}

// walkBodies calls f for every body in b, nested blocks included.
func walkBodies(b *hclsyntax.Body, f func(*hclsyntax.Body)) {
	f(b)
	for _, block := range b.Blocks {
		walkBodies(block.Body, f)
	}
}

// traversals lists every reference (var.x, module.a.b, aws_s3_bucket.this.id...) in b.
func traversals(b *hclsyntax.Body) []hcl.Traversal {
	var out []hcl.Traversal
	walkBodies(b, func(body *hclsyntax.Body) {
		for _, attr := range body.Attributes {
			out = append(out, attr.Expr.Variables()...)
		}
	})
	return out
}

// attrNames returns the names in a traversal, skipping index steps:
// module.frontend[0].bucket_name -> [module frontend bucket_name].
func attrNames(tr hcl.Traversal) []string {
	names := []string{tr.RootName()}
	for _, step := range tr[1:] {
		if a, ok := step.(hcl.TraverseAttr); ok {
			names = append(names, a.Name)
		}
	}
	return names
}

func isLocalSource(source string) bool {
	return strings.HasPrefix(source, "./") || strings.HasPrefix(source, "../")
}

// calledModule resolves the local source of d's module call named call (as
// terraform-config-inspect reads it) to the directory it names.
func (t *tree) calledModule(d *dir, call string) (*dir, string, bool) {
	mc, ok := d.module.ModuleCalls[call]
	if !ok || !isLocalSource(mc.Source) {
		return nil, "", false
	}
	target := t.dirs[path.Clean(path.Join(d.name, mc.Source))]
	return target, mc.Source, target != nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

////////////////////////////////////////////////////////////////////////////////
// Rules
////////////////////////////////////////////////////////////////////////////////

// checkFormat: every file is in canonical format. hclwrite.Format is the formatter
// `terraform fmt` applies (terraform fmt also rewrites a few legacy forms, such as
// "${var.x}" alone in a string and quoted type keywords, which CI's `terraform fmt -check`
// catches); running it in-process makes the rule hold where terraform is not installed.
func checkFormat(t *tree) []string {
	var out []string
	for _, name := range t.names {
		d := t.dirs[name]
		for _, file := range sortedKeys(d.files) {
			src := d.files[file]
			if !bytes.Equal(hclwrite.Format(src), src) {
				out = append(out, path.Join(name, file)+": not in canonical format (run terraform fmt -recursive terraform)")
			}
		}
	}
	return out
}

// moduleFiles are the files of the layout every module has.
var moduleFiles = []string{"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"}

// checkModuleFiles: every directory under modules/ is a module (terraform-config-inspect
// finds configuration in it) with the five files of the layout, and each file holds what
// its name says: the variables in variables.tf, the outputs in outputs.tf, and in
// versions.tf the terraform block with required_version and a source and version
// constraint for every provider the module uses.
func checkModuleFiles(t *tree) []string {
	var out []string
	inspectFS := tfconfig.WrapFS(t.fsys)
	for _, name := range t.moduleDirNames() {
		if !tfconfig.IsModuleDirOnFilesystem(inspectFS, name) {
			out = append(out, fmt.Sprintf("%s: no Terraform configuration", name))
		}
		d := t.dirs[name]
		for _, file := range moduleFiles {
			if d == nil || !d.hasFile[file] {
				out = append(out, fmt.Sprintf("%s: missing %s", name, file))
			}
		}
		if d == nil {
			continue
		}
		m := d.module
		for _, v := range sortedKeys(m.Variables) {
			if p := m.Variables[v].Pos; path.Base(p.Filename) != "variables.tf" {
				out = append(out, fmt.Sprintf("%s: variable %q is declared outside variables.tf", srcPos(p), v))
			}
		}
		for _, o := range sortedKeys(m.Outputs) {
			if p := m.Outputs[o].Pos; path.Base(p.Filename) != "outputs.tf" {
				out = append(out, fmt.Sprintf("%s: output %q is declared outside outputs.tf", srcPos(p), o))
			}
		}
		for _, b := range d.blocksOf("terraform") {
			if path.Base(b.DefRange().Filename) != "versions.tf" {
				out = append(out, fmt.Sprintf("%s: the terraform block belongs in versions.tf", pos(b.DefRange())))
			}
		}
		if len(m.RequiredCore) == 0 {
			out = append(out, fmt.Sprintf("%s: versions.tf sets no required_version", name))
		}
		for _, provider := range sortedKeys(m.RequiredProviders) {
			if provider == "terraform" {
				continue // built in
			}
			req := m.RequiredProviders[provider]
			if req.Source == "" || len(req.VersionConstraints) == 0 {
				out = append(out, fmt.Sprintf("%s: provider %q has no source and version constraint in versions.tf", name, provider))
			}
		}
	}
	return out
}

// checkVariableDocs: every variable has a description and a type.
func checkVariableDocs(t *tree) []string {
	var out []string
	for _, name := range t.names {
		for _, v := range t.dirs[name].blocksOf("variable") {
			attrs := v.Body.Attributes
			if desc, ok := attrs["description"]; !ok {
				out = append(out, fmt.Sprintf("%s: variable %q has no description", pos(v.DefRange()), v.Labels[0]))
			} else if s, ok := literalString(desc.Expr); ok && strings.TrimSpace(s) == "" {
				out = append(out, fmt.Sprintf("%s: variable %q has an empty description", pos(v.DefRange()), v.Labels[0]))
			}
			if _, ok := attrs["type"]; !ok {
				out = append(out, fmt.Sprintf("%s: variable %q has no type", pos(v.DefRange()), v.Labels[0]))
			}
		}
	}
	return out
}

// checkOutputDocs: every output has a description.
func checkOutputDocs(t *tree) []string {
	var out []string
	for _, name := range t.names {
		for _, o := range t.dirs[name].blocksOf("output") {
			if _, ok := o.Body.Attributes["description"]; !ok {
				out = append(out, fmt.Sprintf("%s: output %q has no description", pos(o.DefRange()), o.Labels[0]))
			}
		}
	}
	return out
}

// checkModuleCallArguments: a call to a local module passes every variable the module
// requires (terraform-config-inspect: one without a default) and no variable the module
// does not declare.
func checkModuleCallArguments(t *tree) []string {
	var out []string
	for _, name := range t.names {
		d := t.dirs[name]
		for _, callName := range sortedKeys(d.module.ModuleCalls) {
			mc := d.module.ModuleCalls[callName]
			where := srcPos(mc.Pos)
			target, _, ok := t.calledModule(d, callName)
			if !ok {
				if isLocalSource(mc.Source) {
					out = append(out, fmt.Sprintf("%s: module %q: source %q is not a module of this tree", where, callName, mc.Source))
				}
				continue
			}
			call := d.moduleBlock(callName)
			if call == nil {
				out = append(out, fmt.Sprintf("%s: module %q: no module block", where, callName))
				continue
			}
			declared := target.module.Variables
			for _, arg := range sortedKeys(call.Body.Attributes) {
				if slices.Contains(moduleMetaArguments, arg) {
					continue
				}
				if _, ok := declared[arg]; !ok {
					out = append(out, fmt.Sprintf("%s: module %q passes %q, which %s does not declare", where, callName, arg, target.name))
				}
			}
			for _, variable := range sortedKeys(declared) {
				if !declared[variable].Required {
					continue
				}
				if _, passed := call.Body.Attributes[variable]; !passed {
					out = append(out, fmt.Sprintf("%s: module %q does not pass %q, which %s requires", where, callName, variable, target.name))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkModuleOutputReferences: every module.NAME.OUTPUT names a module call of the same
// directory and an output that module declares (terraform-config-inspect's outputs).
func checkModuleOutputReferences(t *tree) []string {
	var out []string
	for _, name := range t.names {
		d := t.dirs[name]
		calls := map[string]*dir{}
		for callName := range d.module.ModuleCalls {
			target, _, _ := t.calledModule(d, callName)
			calls[callName] = target // nil for a registry module: not checked
		}
		for _, body := range d.bodies {
			for _, tr := range traversals(body) {
				names := attrNames(tr)
				if names[0] != "module" || len(names) < 2 {
					continue
				}
				target, known := calls[names[1]]
				switch {
				case !known:
					out = append(out, fmt.Sprintf("%s: module.%s is not a module call here", pos(tr.SourceRange()), names[1]))
				case target == nil || len(names) < 3:
				default:
					if _, ok := target.module.Outputs[names[2]]; !ok {
						out = append(out, fmt.Sprintf("%s: module.%s.%s: %s has no output %q", pos(tr.SourceRange()), names[1], names[2], target.name, names[2]))
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkUnusedDeclarations: every variable, local and data source is used (what tflint's
// terraform_unused_declarations reports). Variables of roots are exempt only if unused
// variables are deliberate, which they never are here.
func checkUnusedDeclarations(t *tree) []string {
	var out []string
	for _, name := range t.names {
		d := t.dirs[name]
		used := map[string]bool{}
		for _, body := range d.bodies {
			for _, tr := range traversals(body) {
				names := attrNames(tr)
				switch {
				case names[0] == "var" && len(names) > 1:
					used["var."+names[1]] = true
				case names[0] == "local" && len(names) > 1:
					used["local."+names[1]] = true
				case names[0] == "data" && len(names) > 2:
					used["data."+names[1]+"."+names[2]] = true
				}
			}
		}
		for _, v := range d.blocksOf("variable") {
			if !used["var."+v.Labels[0]] {
				out = append(out, fmt.Sprintf("%s: variable %q is never used", pos(v.DefRange()), v.Labels[0]))
			}
		}
		for _, l := range d.blocksOf("locals") {
			for local, attr := range l.Body.Attributes {
				if !used["local."+local] {
					out = append(out, fmt.Sprintf("%s: local %q is never used", pos(attr.NameRange), local))
				}
			}
		}
		for _, data := range d.blocksOf("data") {
			if !used["data."+data.Labels[0]+"."+data.Labels[1]] {
				out = append(out, fmt.Sprintf("%s: data %q %q is never used", pos(data.DefRange()), data.Labels[0], data.Labels[1]))
			}
		}
	}
	sort.Strings(out)
	return out
}

var jsonWildcardAction = regexp.MustCompile(`"(?:Not)?Action"\s*:\s*(?:"\*"|\[[^\]]*"\*")`)

// checkIAMWildcardActions: no policy allows or denies the action "*": not in
// aws_iam_policy_document statements (plain or dynamic), not in jsonencode'd policy
// objects (Action = "*"), not in JSON heredocs.
func checkIAMWildcardActions(t *tree) []string {
	var out []string
	report := func(r hcl.Range, where string) {
		out = append(out, fmt.Sprintf("%s: %s has the action \"*\"; list the actions", pos(r), where))
	}
	hasWildcard := func(expr hclsyntax.Expression) bool {
		if s, ok := literalString(expr); ok {
			return s == "*"
		}
		if tuple, ok := expr.(*hclsyntax.TupleConsExpr); ok {
			for _, item := range tuple.Exprs {
				if s, ok := literalString(item); ok && s == "*" {
					return true
				}
			}
		}
		return false
	}
	for _, name := range t.names {
		d := t.dirs[name]
		for _, doc := range d.blocksOf("data", "aws_iam_policy_document") {
			walkBodies(doc.Body, func(body *hclsyntax.Body) {
				for _, key := range []string{"actions", "not_actions"} {
					if attr, ok := body.Attributes[key]; ok && hasWildcard(attr.Expr) {
						report(attr.SrcRange, fmt.Sprintf("policy document %q", doc.Labels[1]))
					}
				}
			})
		}
		for _, body := range d.bodies {
			hclsyntax.VisitAll(body, func(node hclsyntax.Node) hcl.Diagnostics {
				switch e := node.(type) {
				case *hclsyntax.ObjectConsExpr:
					for _, item := range e.Items {
						key, ok := literalString(unwrapKey(item.KeyExpr))
						if ok && (key == "Action" || key == "NotAction") && hasWildcard(item.ValueExpr) {
							report(item.ValueExpr.Range(), "policy object")
						}
					}
				case *hclsyntax.TemplateExpr:
					if jsonWildcardAction.MatchString(templateText(e)) {
						report(e.SrcRange, "policy JSON")
					}
				}
				return nil
			})
		}
	}
	sort.Strings(out)
	return out
}

// unwrapKey returns the expression of an object key (`Action = ...` parses as a
// keyword wrapped in an ObjectConsKeyExpr).
func unwrapKey(expr hclsyntax.Expression) hclsyntax.Expression {
	k, ok := expr.(*hclsyntax.ObjectConsKeyExpr)
	if !ok {
		return expr
	}
	if tr, ok := k.Wrapped.(*hclsyntax.ScopeTraversalExpr); ok && len(tr.Traversal) == 1 {
		return &hclsyntax.LiteralValueExpr{Val: cty.StringVal(tr.Traversal.RootName()), SrcRange: tr.SrcRange}
	}
	return k.Wrapped
}

var (
	// arn:aws:, arn:aws-cn:, arn:aws-us-gov: written out instead of data.aws_partition.
	literalPartition = regexp.MustCompile(`arn:aws(?:-[a-z-]+)?:`)
	// A region spelled out in the region field of an ARN.
	literalARNRegion = regexp.MustCompile(`arn:[^:]*:[^:]*:(?:us|eu|ap|cn|sa|ca|me|af|il|mx)(?:-gov)?-[a-z]+-\d:`)
	// A 12-digit account ID.
	literalAccountID = regexp.MustCompile(`(?:^|[^0-9])[0-9]{12}(?:[^0-9]|$)`)
	// A service principal or endpoint built by hand; the DNS suffix differs per partition
	// (data.aws_partition.dns_suffix, data.aws_service_principal).
	literalDNSSuffix = regexp.MustCompile(`amazonaws\.com`)
)

// checkHardcodedIdentifiers: no literal partition, region-in-ARN, account ID or AWS DNS
// suffix in any string but descriptions and error messages (documentation).
func checkHardcodedIdentifiers(t *tree) []string {
	var out []string
	for _, name := range t.names {
		for _, body := range t.dirs[name].bodies {
			walkBodies(body, func(b *hclsyntax.Body) {
				for attrName, attr := range b.Attributes {
					if attrName == "description" || attrName == "error_message" {
						continue
					}
					hclsyntax.VisitAll(attr.Expr, func(node hclsyntax.Node) hcl.Diagnostics {
						e, ok := node.(*hclsyntax.TemplateExpr)
						if !ok {
							return nil
						}
						text := templateText(e)
						for _, check := range []struct {
							re  *regexp.Regexp
							msg string
						}{
							{literalPartition, "a literal partition in an ARN (use data.aws_partition)"},
							{literalARNRegion, "a literal region in an ARN (use data.aws_region)"},
							{literalAccountID, "a literal account ID (use data.aws_caller_identity)"},
							{literalDNSSuffix, "a literal amazonaws.com (use data.aws_service_principal or data.aws_partition.dns_suffix)"},
						} {
							if check.re.MatchString(text) {
								out = append(out, fmt.Sprintf("%s: %s: %q", pos(e.SrcRange), check.msg, text))
							}
						}
						return nil
					})
				}
			})
		}
	}
	sort.Strings(out)
	return out
}

// checkBuckets: every aws_s3_bucket has a public access block with all four settings on,
// default encryption, and no ACL granting public or authenticated-users access.
func checkBuckets(t *tree) []string {
	var out []string
	refersTo := func(b *hclsyntax.Block, bucket string) bool {
		attr, ok := b.Body.Attributes["bucket"]
		if !ok {
			return false
		}
		for _, tr := range attr.Expr.Variables() {
			names := attrNames(tr)
			if len(names) >= 2 && names[0] == "aws_s3_bucket" && names[1] == bucket {
				return true
			}
		}
		return false
	}
	isTrue := func(b *hclsyntax.Block, attr string) bool {
		a, ok := b.Body.Attributes[attr]
		if !ok {
			return false
		}
		v, diags := a.Expr.Value(nil)
		return !diags.HasErrors() && v.Type() == cty.Bool && v.True()
	}
	publicACLs := []string{"public-read", "public-read-write", "authenticated-read"}
	for _, name := range t.names {
		d := t.dirs[name]
		for _, bucket := range d.blocksOf("resource", "aws_s3_bucket") {
			label := bucket.Labels[1]
			where := pos(bucket.DefRange())
			if acl, ok := bucket.Body.Attributes["acl"]; ok {
				if s, _ := literalString(acl.Expr); slices.Contains(publicACLs, s) {
					out = append(out, fmt.Sprintf("%s: bucket %q has the ACL %q", where, label, s))
				}
			}
			blocked := false
			for _, pab := range d.blocksOf("resource", "aws_s3_bucket_public_access_block") {
				if refersTo(pab, label) && isTrue(pab, "block_public_acls") && isTrue(pab, "block_public_policy") &&
					isTrue(pab, "ignore_public_acls") && isTrue(pab, "restrict_public_buckets") {
					blocked = true
				}
			}
			if !blocked {
				out = append(out, fmt.Sprintf("%s: bucket %q has no public access block with all four settings true", where, label))
			}
			encrypted := false
			for _, sse := range d.blocksOf("resource", "aws_s3_bucket_server_side_encryption_configuration") {
				encrypted = encrypted || refersTo(sse, label)
			}
			if !encrypted {
				out = append(out, fmt.Sprintf("%s: bucket %q has no default encryption", where, label))
			}
		}
		for _, acl := range d.blocksOf("resource", "aws_s3_bucket_acl") {
			if a, ok := acl.Body.Attributes["acl"]; ok {
				if s, _ := literalString(a.Expr); slices.Contains(publicACLs, s) {
					out = append(out, fmt.Sprintf("%s: aws_s3_bucket_acl %q grants %q", pos(acl.DefRange()), acl.Labels[1], s))
				}
			}
		}
	}
	return out
}

// closedSetVariable matches module variables whose values come from a closed set.
var closedSetVariable = regexp.MustCompile(`(^|_)(renditions?|codec|task_sizes?|capacity_provider|price_class|authorizer_type|cpu_architecture|nat_gateway_mode|container_insights|http_version|table_class)$`)

// checkClosedSets: in modules, a variable holding a closed set (renditions, codecs, task
// sizes, capacity providers...) has a validation block.
func checkClosedSets(t *tree) []string {
	var out []string
	for _, d := range t.modules() {
		for name, v := range d.variables() {
			if !closedSetVariable.MatchString(name) {
				continue
			}
			validated := false
			for _, b := range v.Body.Blocks {
				validated = validated || b.Type == "validation"
			}
			if !validated {
				out = append(out, fmt.Sprintf("%s: variable %q takes a closed set of values but has no validation", pos(v.DefRange()), name))
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkRegionRoots: every folder under regions/ is a root that calls the region module
// for the region it is named after, configures the provider for it, and keeps its state
// in S3 with locking and encryption. The global roots keep theirs the same way. No two
// roots share a state key (a copied region folder must get its own).
func checkRegionRoots(t *tree) []string {
	var out []string
	stateKeys := map[string]string{} // key -> root
	for _, name := range t.names {
		for _, backend := range backendsOf(t.dirs[name]) {
			attr, ok := backend.Body.Attributes["key"]
			if !ok {
				continue
			}
			key, _ := literalString(attr.Expr)
			if other, dup := stateKeys[key]; dup {
				out = append(out, fmt.Sprintf("%s: state key %q is also the key of %s", name, key, other))
			}
			stateKeys[key] = name
		}
	}
	entries, _ := fs.ReadDir(t.fsys, "regions")
	for _, entry := range entries {
		if !entry.IsDir() {
			continue
		}
		region, name := entry.Name(), path.Join("regions", entry.Name())
		d := t.dirs[name]
		if d == nil {
			out = append(out, fmt.Sprintf("%s: no Terraform files", name))
			continue
		}
		out = append(out, checkBackend(d)...)
		calls := 0
		for _, call := range d.blocksOf("module") {
			target, _, _ := t.calledModule(d, call.Labels[0])
			if target == nil || target.name != "modules/region" {
				continue
			}
			calls++
			if arg, ok := call.Body.Attributes["region"]; !ok {
				out = append(out, fmt.Sprintf("%s: the region module call does not pass region", name))
			} else if s, _ := literalString(arg.Expr); s != region {
				out = append(out, fmt.Sprintf("%s: the region module is called with region %q", name, s))
			}
		}
		if calls != 1 {
			out = append(out, fmt.Sprintf("%s: calls the region module %d times, want once", name, calls))
		}
		providers := d.blocksOf("provider", "aws")
		if len(providers) == 0 {
			out = append(out, fmt.Sprintf("%s: no aws provider block", name))
		}
		for _, p := range providers {
			if arg, ok := p.Body.Attributes["region"]; !ok {
				out = append(out, fmt.Sprintf("%s: the aws provider has no region", name))
			} else if s, _ := literalString(arg.Expr); s != region {
				out = append(out, fmt.Sprintf("%s: the aws provider is configured for %q", name, s))
			}
		}
	}
	for _, name := range []string{"global", "global-cn"} {
		if d := t.dirs[name]; d != nil {
			out = append(out, checkBackend(d)...)
		}
	}
	return out
}

func backendsOf(d *dir) []*hclsyntax.Block {
	var backends []*hclsyntax.Block
	for _, tf := range d.blocksOf("terraform") {
		for _, b := range tf.Body.Blocks {
			if b.Type == "backend" {
				backends = append(backends, b)
			}
		}
	}
	return backends
}

func checkBackend(d *dir) []string {
	backends := backendsOf(d)
	if len(backends) != 1 || backends[0].Labels[0] != "s3" {
		return []string{fmt.Sprintf("%s: want exactly one backend \"s3\"", d.name)}
	}
	attrs := backends[0].Body.Attributes
	var out []string
	isTrue := func(key string) bool {
		a, ok := attrs[key]
		if !ok {
			return false
		}
		v, diags := a.Expr.Value(nil)
		return !diags.HasErrors() && v.Type() == cty.Bool && v.True()
	}
	if _, table := attrs["dynamodb_table"]; !isTrue("use_lockfile") && !table {
		out = append(out, fmt.Sprintf("%s: the S3 backend has no locking (use_lockfile = true or dynamodb_table)", d.name))
	}
	if !isTrue("encrypt") {
		out = append(out, fmt.Sprintf("%s: the S3 backend does not set encrypt = true", d.name))
	}
	if _, ok := attrs["key"]; !ok {
		out = append(out, fmt.Sprintf("%s: the S3 backend has no key", d.name))
	}
	return out
}
