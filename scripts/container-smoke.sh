#!/usr/bin/env bash
# Container smoke test: build the image, run `organizer-bot run` from it against a throwaway
# Synapse on loopback, and get an answer to !help in an encrypted room (scripts/container_smoke.py).
#
# With a working Docker engine: docker build / docker run --network host.
# Otherwise podman (installed with apt-get when missing and we are root). Where `podman run`
# cannot start containers (no RLIMIT_NPROC in nested sandboxes), the image's filesystem is
# mounted (`podman image mount`) and the bot runs in it with chroot, as the image's user.
# Without a pullable base image, a Debian bookworm base is made with debootstrap (cached as
# localhost/bookworm-python).
#
# Runs on its own on a fresh checkout: without PYTHON it makes ./.venv the way `python3 dev.py`
# does (first thing, before the long image build) when that venv cannot import the bot yet.
#
# Environment: PYTHON (host Python with the bot's dependencies, default .venv/bin/python, made if needed),
# ORGANIZER_SYNAPSE_VENV (reused Synapse venv), BASE_IMAGE, IMAGE (tag to build),
# SMOKE_ENGINE=docker|podman-run|podman-chroot to force a mode.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
IMAGE="${IMAGE:-localhost/organizer-bot:smoke}"
START=$(date +%s)
log() { echo "smoke[$(( $(date +%s) - START ))s]: $*"; }

# the host side (Synapse, the member client) needs a Python with the bot's dependencies
if [[ -z "${PYTHON:-}" ]]; then
  PYTHON="$ROOT/.venv/bin/python"
  if ! (cd "$ROOT" && "$PYTHON" -c "import nio, bot.ops.localserver") >/dev/null 2>&1; then
    log "making $ROOT/.venv with the bot's dependencies (as python3 dev.py does)"
    python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import dev; dev.ensure_venv()' "$ROOT"
  fi
fi
if ! (cd "$ROOT" && "$PYTHON" -c "import nio, bot.ops.localserver") >/dev/null 2>&1; then
  echo "PYTHON=$PYTHON cannot import the bot: unset PYTHON (this script then makes .venv) or run python3 dev.py test" >&2
  exit 2
fi

engine="${SMOKE_ENGINE:-}"
if [[ -z "$engine" ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    engine=docker
  else
    engine=podman-chroot
  fi
fi

if [[ "$engine" == podman* ]]; then
  if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
    [[ $(id -u) == 0 ]] || { echo "podman/debootstrap missing and not root: cannot install them" >&2; exit 3; }
    log "installing podman and debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman debootstrap >/dev/null
  fi
  if [[ -z "${BASE_IMAGE:-}" ]]; then
    BASE_IMAGE=localhost/bookworm-python
    if ! podman image exists "$BASE_IMAGE"; then
      log "making a Debian bookworm base image with debootstrap"
      rootfs="$(mktemp -d /tmp/organizer-rootfs.XXXXXX)"
      debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
        bookworm "$rootfs" >/dev/null
      tar -C "$rootfs" -c . | podman import -q - "$BASE_IMAGE" >/dev/null
      rm -rf "$rootfs"
    fi
  fi
  log "building $IMAGE from $BASE_IMAGE with podman"
  podman build -q --format docker --cgroup-manager=cgroupfs --isolation=chroot --network host \
    -v /etc/ssl/certs:/etc/ssl/certs:ro --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$IMAGE" "$ROOT" >/dev/null
else
  log "building $IMAGE with docker"
  docker build -q ${BASE_IMAGE:+--build-arg BASE_IMAGE="$BASE_IMAGE"} -t "$IMAGE" "$ROOT" >/dev/null
fi
log "image built"

case "$engine" in
  docker)
    launch='exec docker run --rm --network host --env-file "$SMOKE_DIR/bot.env" \
      -v "$SMOKE_DIR/data:/data" -v "$SMOKE_DIR/secrets:/run/secrets:ro" '"$IMAGE"
    ;;
  podman-run)
    launch='exec podman run --rm --network host --cgroup-manager=cgroupfs --env-file "$SMOKE_DIR/bot.env" \
      -v "$SMOKE_DIR/data:/data" -v "$SMOKE_DIR/secrets:/run/secrets:ro" '"$IMAGE"
    ;;
  podman-chroot)
    MNT="$(podman image mount "$IMAGE")"
    cleanup() {
      umount "$MNT/data" 2>/dev/null || true
      umount "$MNT/run/secrets" 2>/dev/null || true
      podman image unmount "$IMAGE" >/dev/null 2>&1 || true
    }
    trap cleanup EXIT
    # the image's user, environment and entry point, run in its filesystem (read-only) with
    # the data volume and the secrets bind-mounted where compose would put them
    launch='mount --bind "$SMOKE_DIR/data" "'"$MNT"'/data" && \
      mount --bind "$SMOKE_DIR/secrets" "'"$MNT"'/run/secrets" && \
      exec chroot --userspec=10001:10001 "'"$MNT"'" /usr/bin/env -i \
        PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin PYTHONUNBUFFERED=1 HOME=/data \
        $(grep -v "^#" "$SMOKE_DIR/bot.env" | xargs) organizer-bot run'
    ;;
  *) echo "unknown SMOKE_ENGINE $engine" >&2; exit 2 ;;
esac

log "running the bot from the image ($engine)"
cd "$ROOT"
"$PYTHON" scripts/container_smoke.py --launch "$launch"
log "passed in $(( $(date +%s) - START )) s"
