#!/usr/bin/env bash
# Checks the Terraform tree under terraform/.
#
# .github/workflows/ci.yml runs --fmt, --list-roots --json, --validate ROOT (one job per
# root) and --lint; the Go structure tests run in `make test`.
#
#   scripts/terraform-check.sh              formatting and the Go structure tests (offline)
#   scripts/terraform-check.sh --fmt        terraform fmt -check -recursive terraform
#   scripts/terraform-check.sh --list-roots [--json]
#                                           the roots (every folder with .tf files outside modules/)
#   scripts/terraform-check.sh --validate [ROOT...]
#                                           init -backend=false and validate each root (downloads
#                                           providers: CI, or a machine that reaches the registry)
#   scripts/terraform-check.sh --lint       tflint over the tree (if tflint is installed)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tf_dir="$top/terraform"
export TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1

need_terraform() {
	command -v terraform >/dev/null 2>&1 || {
		echo "terraform-check: terraform is not installed (https://developer.hashicorp.com/terraform/install)" >&2
		exit 2
	}
}

list_roots() {
	(cd "$tf_dir" && find . -name '*.tf' -not -path '*/.terraform/*' -not -path './modules/*') |
		sed -e 's|/[^/]*$||' -e 's|^\./||' | sort -u
}

check_fmt() {
	need_terraform
	if ! (cd "$top" && terraform fmt -check -recursive -diff terraform); then
		echo "terraform-check: files above are not formatted; run: terraform fmt -recursive terraform" >&2
		return 1
	fi
	echo "terraform-check: formatting ok"
}

validate() {
	need_terraform
	local roots=("$@") failed=0
	[ ${#roots[@]} -gt 0 ] || mapfile -t roots < <(list_roots)
	for root in "${roots[@]}"; do
		[ -d "$tf_dir/$root" ] || { echo "terraform-check: no root terraform/$root" >&2; return 1; }
		echo "== terraform/$root"
		if terraform -chdir="$tf_dir/$root" init -backend=false -input=false -no-color >/dev/null &&
			terraform -chdir="$tf_dir/$root" validate -no-color; then
			:
		else
			echo "terraform-check: terraform/$root does not validate" >&2
			failed=1
		fi
	done
	return "$failed"
}

lint() {
	if ! command -v tflint >/dev/null 2>&1; then
		echo "terraform-check: tflint is not installed; skipping lint" >&2
		return 0
	fi
	tflint --chdir="$tf_dir" --init --config="$tf_dir/.tflint.hcl" >/dev/null
	tflint --chdir="$tf_dir" --recursive --config="$tf_dir/.tflint.hcl"
}

case "${1:-}" in
--fmt) check_fmt ;;
--list-roots)
	if [ "${2:-}" = "--json" ]; then
		list_roots | python3 -c 'import json, sys; print(json.dumps([l.strip() for l in sys.stdin if l.strip()]))'
	else
		list_roots
	fi
	;;
--validate)
	shift
	validate "$@"
	;;
--lint) lint ;;
"")
	check_fmt
	(cd "$top" && go test ./terraform/...)
	echo "terraform-check: 'terraform validate' needs the providers; it runs in .github/workflows/ci.yml (or: $0 --validate)"
	;;
*)
	sed -n '2,14p' "$0" >&2
	exit 2
	;;
esac
