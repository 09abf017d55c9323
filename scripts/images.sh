#!/usr/bin/env bash
# Builds the container images from containers/NAME/Dockerfile (context: the repository).
#
#   scripts/images.sh                     every image whose folder has a Dockerfile
#   scripts/images.sh gateway worker      the named images; a missing one is an error
#
# Options (environment):
#   IMAGE_TAG=TAG          tag to build (default: the git commit, or "dev")
#   IMAGE_PLATFORM=P       target platform, e.g. linux/arm64 (default: the builder's)
#   IMAGE_PUSH=PREFIX      also push as PREFIX/NAME:TAG (e.g. ACCOUNT.dkr.ecr.REGION.amazonaws.com/livestack);
#                          a tag already in the registry is left alone (ECR tags are immutable)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if ! command -v docker >/dev/null 2>&1; then
	echo "images: building the images needs Docker, and the docker command is not installed." >&2
	echo "images: install Docker (or run the deploy workflow, which builds and pushes them)." >&2
	exit 2
fi
if ! docker info >/dev/null 2>&1; then
	echo "images: building the images needs Docker, and no Docker engine is reachable (docker info failed)." >&2
	echo "images: start the Docker daemon (or set DOCKER_HOST), or let the deploy workflow build them." >&2
	exit 2
fi

tag="${IMAGE_TAG:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)}"
go_version=$(sed -n 's/^go \([0-9.]*\)$/\1/p' go.mod)

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in containers/*/Dockerfile; do
		[ -f "$f" ] && names+=("$(basename "$(dirname "$f")")")
	done
	if [ ${#names[@]} -eq 0 ]; then
		echo "images: no containers/*/Dockerfile yet; nothing to build"
		exit 0
	fi
fi

for name in "${names[@]}"; do
	if [ ! -f "containers/$name/Dockerfile" ]; then
		echo "images: containers/$name/Dockerfile does not exist" >&2
		exit 1
	fi
	if ! grep -qs '^package main' "containers/$name"/*.go; then
		echo "images: containers/$name has no main package yet" >&2
		exit 1
	fi
done

for name in "${names[@]}"; do
	local_ref="livestack/$name:$tag"
	args=(build --file "containers/$name/Dockerfile" --tag "$local_ref" --build-arg "GO_VERSION=$go_version")
	[ -n "${IMAGE_PLATFORM:-}" ] && args+=(--platform "$IMAGE_PLATFORM")
	echo "images: building $local_ref"
	DOCKER_BUILDKIT=1 docker "${args[@]}" .

	if [ -n "${IMAGE_PUSH:-}" ]; then
		remote_ref="$IMAGE_PUSH/$name:$tag"
		if docker manifest inspect "$remote_ref" >/dev/null 2>&1; then
			echo "images: $remote_ref already exists; not pushing"
			continue
		fi
		docker tag "$local_ref" "$remote_ref"
		docker push "$remote_ref"
	fi
done
