#!/bin/sh
# The feed list lives on the data volume so edits (by hand or /addfeed) survive new images;
# the first start seeds it with the list shipped in the image.
set -eu
if [ ! -f "$WATCHBOT_FEEDS_FILE" ]; then
  cp /app/feeds.yaml "$WATCHBOT_FEEDS_FILE"
  echo "entrypoint: seeded $WATCHBOT_FEEDS_FILE from the image's feeds.yaml" >&2
fi
exec "$@"
