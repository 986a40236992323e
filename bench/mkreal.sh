#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# mkreal.sh DEST: the "real tree" dataset of issue 23, a copy of system directories that look
# like a user's home of many small files (docs, man pages, headers, locale catalogues, scripts,
# icons, compressed .gz): /usr/share and /usr/include, about 1.1 GB in ~73 k files on Debian 12.
# Made once; the copy is frozen, so later package upgrades do not change a dataset in use.
set -euo pipefail
dest=$1
[ ! -e "$dest" ] || { echo "mkreal: $dest exists" >&2; exit 2; }
tmp=$dest.tmp.$$
mkdir -p "$tmp"
# --no-preserve=links is not wanted: hard links inside /usr/share are part of a real tree
cp -a /usr/share /usr/include "$tmp"/
mv "$tmp" "$dest"
printf 'mkreal: %s: %s files, %s bytes\n' "$dest" \
  "$(find "$dest" -type f -printf x | wc -c)" \
  "$(find "$dest" -type f -printf '%s\n' | awk '{s+=$1} END{printf "%d", s}')"
