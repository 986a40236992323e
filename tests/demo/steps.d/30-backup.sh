# SPDX-License-Identifier: MIT
# Demo steps for the backup repository (issue 3): sourced by tests/demo/demo.sh,
# run while the demo user is logged in with the keys unlocked.
step_backup_restore() {
  title "Back up $DEMO_USER's home, restore it elsewhere, compare the trees"
  # some content: text, a larger binary, a symlink, a hard link, an odd name, an xattr
  as_user sh -c "cd '$D/home' && mkdir -p docs pics && seq 1 20000 > docs/numbers.txt &&
    head -c 3000000 /dev/urandom > pics/photo.jpg && ln -s docs/numbers.txt link &&
    ln docs/numbers.txt docs/hardlink && printf x > 'odd name' && chmod 600 docs/numbers.txt"
  setfattr -n user.comment -v demo "$D/home/docs/numbers.txt" 2>/dev/null || true
  agent_backup   # steps.d/20-agent.sh: the agent creates the repository and backs up
  say "$ cloudseal snapshots"
  as_user env HOME="$D/home" "$B/cloudseal" --config "$C" snapshots </dev/null 2>&1 | sed 's/^/     /'
  install -d -o $DEMO_USER -g $DEMO_USER "$D/restore"
  say "$ cloudseal restore latest --target $D/restore"
  as_user env HOME="$D/home" "$B/cloudseal" --config "$C" restore latest --target "$D/restore" </dev/null 2>&1 |
    sed 's/^/     /'
  # compare names, types, modes, owners, sizes, ns mtimes, link targets and contents
  # cloudseal's own moving parts (file-change cache, agent state) are excluded
  # from backups by default and change while the demo runs: leave them out here too.
  tree_of() { (cd "$1" && find . -mindepth 1 \( -path ./.cache -o -path ./.local/state/cloudseal \
    -o -path ./.config/cloudseal \) -prune -o -printf '%p %y %m %u %g %s %T@ %l\n' | sort) }
  if ! diff <(tree_of "$D/home") <(tree_of "$D/restore$D/home") >/dev/null ||
     ! diff -r --no-dereference --exclude=.cache --exclude=cloudseal "$D/home" "$D/restore$D/home" >/dev/null; then
    diff <(tree_of "$D/home") <(tree_of "$D/restore$D/home") | head -20 | sed 's/^/     /'
    die "the restored tree differs"
  fi
  say "$ cloudseal check --read-data"
  as_user env HOME="$D/home" "$B/cloudseal" --config "$C" check --read-data </dev/null 2>&1 | sed 's/^/     /'
  ok "restored tree identical to the home directory (contents, modes, owners, ns times, links)"
  agent_stop
}
EXTRA_STEPS="$EXTRA_STEPS step_backup_restore"
