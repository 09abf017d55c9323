#!/usr/bin/env bash
# Builds the Lambda functions into build/lambdas/NAME.zip for Terraform: each zip holds one
# `bootstrap` binary for the provided.al2023 runtime on arm64.
#
#   scripts/lambdas.sh            every function under functions/ (those that exist)
#   scripts/lambdas.sh api ...    the named functions; a missing one is an error
#
# The zips are reproducible (trimmed paths, no build ID, fixed timestamps), so Terraform
# updates a function only when its code changed.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out_dir="${LAMBDAS_OUT_DIR:-$top/build/lambdas}"
cd "$top"

command -v go >/dev/null 2>&1 || { echo "lambdas: go is not installed" >&2; exit 2; }
command -v zip >/dev/null 2>&1 || { echo "lambdas: zip is not installed (apt-get install zip)" >&2; exit 2; }

is_main_package() {
	[ -d "functions/$1" ] && grep -qs '^package main' "functions/$1"/*.go
}

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for d in functions/*/; do
		[ -d "$d" ] || continue
		name=$(basename "$d")
		if is_main_package "$name"; then
			names+=("$name")
		else
			echo "lambdas: skipping functions/$name (no main package)" >&2
		fi
	done
	if [ ${#names[@]} -eq 0 ]; then
		echo "lambdas: no functions under functions/ yet; nothing to build"
		exit 0
	fi
else
	for name in "${names[@]}"; do
		if ! is_main_package "$name"; then
			echo "lambdas: functions/$name does not exist or is not a main package" >&2
			exit 1
		fi
	done
fi

mkdir -p "$out_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for name in "${names[@]}"; do
	mkdir -p "$work/$name"
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
		go build -tags lambda.norpc -trimpath -ldflags="-s -w -buildid=" -o "$work/$name/bootstrap" "./functions/$name"
	touch -d '2000-01-01T00:00:00Z' "$work/$name/bootstrap"
	rm -f "$out_dir/$name.zip"
	(cd "$work/$name" && zip -q -X "$out_dir/$name.zip" bootstrap)
	echo "lambdas: $out_dir/$name.zip ($(du -h "$out_dir/$name.zip" | cut -f1))"
done
